"""Scratch space of a run (archive masters and access copies being made), and its cleanup.

Each run works in ``<work>/<run id>/`` with an ``owner.json`` naming its host and process. A run
removes its folder when it ends; a killed run cannot, so the next run on the same host removes
every folder whose owner process is gone. Folders of runs on other hosts are theirs to clean.
:class:`ScratchBudget` bounds what the tasks of one machine hold at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

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


class ScratchBudget:
    """Bounds the scratch space the tasks of one machine use at once.

    A task that is about to write work copies reserves an estimate of their size; it waits while
    the reservations of live processes on this host, plus its own, exceed ``limit`` bytes (a night
    of FFV1 masters must not fill the disk). One task always may go, however large, when nothing
    else is reserved. Reservations are files under ``<root>/.budget/`` named by the owner's pid,
    checked and written under an exclusive ``flock`` of that folder, so every worker process of the host shares
    the budget; those of dead processes (a killed worker) no longer count.
    """

    def __init__(self, root: Path, limit: int, poll_s: float = 2.0) -> None:
        self.folder = Path(root) / ".budget"
        self.limit = int(limit)
        self.poll_s = poll_s

    def _live(self) -> int:
        total = 0
        for entry in self.folder.glob("*.json"):
            try:
                body = json.loads(entry.read_text())
            except (OSError, ValueError):
                continue
            if body.get("host") == socket.gethostname() and not process_alive(int(body.get("pid", 0))):
                entry.unlink(missing_ok=True)  # a killed task's reservation
                continue
            total += int(body.get("bytes", 0))
        return total

    def _try(self, nbytes: int, name: str) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY)  # the folder itself is the lock: no lock file left behind
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            used = self._live()
            if used and used + nbytes > self.limit:
                return False
            (self.folder / f"{name}.json").write_text(
                json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "bytes": int(nbytes)})
            )
            return True
        finally:
            os.close(fd)

    @contextmanager
    def reserve(self, nbytes: int, on_wait: Callable[[int, int], None] | None = None) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the block; waits (calling ``on_wait(used, limit)`` once) until it fits."""
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        told = False
        while not self._try(nbytes, name):
            if not told and on_wait is not None:
                on_wait(self._live(), self.limit)
                told = True
            time.sleep(self.poll_s)
        try:
            yield
        finally:
            (self.folder / f"{name}.json").unlink(missing_ok=True)
