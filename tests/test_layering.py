"""The layers: media/ and storage/ stay free of Prefect and of each other; records/ (the domain) and
reports/ (rendering) know no Prefect, no CLI and no flows; only flows/ orchestrates."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "media": {"prefect", "flows", "storage", "records", "reports", "boto3", "botocore"},
    "storage": {"prefect", "flows", "media", "records", "reports"},
    "records": {"prefect", "flows", "reports", "typer", "rich"},
    "reports": {"prefect", "flows", "typer"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_forbidden_import_statements(layer):
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_roots(p) & FORBIDDEN[layer]) for p in (ROOT / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_importing_a_layer_loads_nothing_forbidden(layer):
    """Import every module of the layer in a fresh interpreter and look at sys.modules."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((ROOT / layer).rglob("*.py"))
        if p.name != "__main__.py"
    ]
    allowed_extra = {"boto3", "botocore"} if layer == "storage" else set()
    code = (
        "import importlib, sys, json\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(__import__("json").loads(out.stdout))
    assert loaded & (FORBIDDEN[layer] - allowed_extra) == set()


def test_flows_never_import_the_command_line():
    """Flows and tasks run under Prefect workers too: none may need the CLI (flows/cli/ is above them)."""
    offenders = {}
    for p in sorted((ROOT / "flows").glob("*.py")):
        if p.name == "__main__.py":  # ``python -m flows`` is the command line
            continue
        tree = ast.parse(p.read_text(), filename=str(p))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {f"flows.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "flows"
                  for a in n.names}
        bad = sorted(m for m in names if m == "flows.cli" or m.startswith("flows.cli.") or m in ("typer", "rich"))
        if bad:
            offenders[p.name] = bad
    assert offenders == {}
