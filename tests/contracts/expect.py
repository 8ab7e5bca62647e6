"""The expected outputs of the contract tests (``expected/``) and the JSON form they compare."""

from __future__ import annotations

import json
from pathlib import Path

EXPECTED = Path(__file__).resolve().parent / "expected"


def dump(doc) -> str:
    """As ``footage ... --json`` prints a document (flows.cli.common.print_json)."""
    return json.dumps(doc, ensure_ascii=False, indent=1, default=str)


def expected(name: str) -> str:
    """An expected file's text."""
    return (EXPECTED / name).read_text("utf-8")


def expected_bytes(name: str) -> bytes:
    return (EXPECTED / name).read_bytes()
