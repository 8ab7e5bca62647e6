"""Scratch space of a run (archive masters and access copies being made), and its cleanup.

Each run works in ``<work>/<run id>/`` with an ``owner.json`` naming its host and process. A run
removes its folder when it ends; a killed run cannot, so the next run on the same host removes
every folder whose owner process is gone. Folders of runs on other hosts are theirs to clean.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

from records.lease import process_alive


def claim_scratch(root: Path, run: str) -> Path:
    """This run's scratch folder under ``root``."""
    folder = Path(root) / run
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    return folder


def release_scratch(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def clean_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders (and loose files) left by killed runs on this host."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    host = socket.gethostname()
    for entry in sorted(root.iterdir()):
        if entry.is_file():  # loose work files of versions before per-run folders
            entry.unlink(missing_ok=True)
            removed.append(entry)
            continue
        try:
            owner = json.loads((entry / "owner.json").read_text())
        except (OSError, ValueError):
            owner = {}
        if owner.get("host") == host and not process_alive(int(owner.get("pid", 0) or 0)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
