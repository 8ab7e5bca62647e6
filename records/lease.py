"""Leases on inbox files, so that two runs never process the same file at once.

A lease is a small JSON file in ``<inbox>/.footage-leases/`` created with ``O_CREAT | O_EXCL``,
which is atomic on local filesystems and on NFS v3+ shares, so it holds across machines that
mount the same inbox. It names the run, host and process that hold it and when it expires. A
lease is stale when it has expired, or when its host is this host and its process is gone (a
killed run): a stale lease is first renamed away (only one contender's rename succeeds), then
taken anew. Discovery skips the folder (its name starts with a dot).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

FOLDER = ".footage-leases"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class InboxLeases:
    """The leases one run holds on files of one inbox.

    Parameters
    ----------
    inbox : Path
    ttl_s : float
        How long a lease holds when its holder cannot be asked (another machine).
    run : str, optional
        This run's id (default: a new one).
    """

    def __init__(self, inbox: Path, ttl_s: float, run: str | None = None):
        self.folder = Path(inbox) / FOLDER
        self.ttl = timedelta(seconds=ttl_s)
        self.run = run or uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held: dict[str, Path] = {}

    def _path(self, rel: str) -> Path:
        return self.folder / (hashlib.sha1(rel.encode()).hexdigest() + ".lease")

    def _stale(self, lease: dict) -> bool:
        try:
            if datetime.fromisoformat(lease["expires"]) < datetime.now(timezone.utc):
                return True
            return lease.get("host") == self.host and not process_alive(int(lease["pid"]))
        except (KeyError, ValueError, TypeError):
            return True  # unreadable: written by a process that died mid-write

    def acquire(self, rel: str) -> dict | None:
        """Take the lease on inbox file ``rel``; None when taken, else the holder's lease."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(rel)
        now = datetime.now(timezone.utc)
        body = {"file": rel, "run": self.run, "host": self.host, "pid": self.pid,
                "acquired": now.isoformat(), "expires": (now + self.ttl).isoformat()}
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileNotFoundError:  # another run removed the empty folder just now
                self.folder.mkdir(parents=True, exist_ok=True)
                continue
            except FileExistsError:
                try:
                    held = json.loads(path.read_text())
                except FileNotFoundError:
                    continue  # released meanwhile
                except ValueError:
                    held = {}
                if not self._stale(held):
                    return held
                try:  # only one contender's rename of the stale lease succeeds
                    os.rename(path, path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}"))
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(body, f)
            self.held[rel] = path
            return None
        return {"file": rel, "run": "unknown", "host": "unknown"}

    def release(self, rel: str) -> None:
        """Give back the lease on ``rel`` (a file this run will not take after all)."""
        path = self.held.pop(rel, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def release_all(self) -> None:
        for path in self.held.values():
            path.unlink(missing_ok=True)
        self.held.clear()
        for stale in self.folder.glob("*.stale-*") if self.folder.is_dir() else []:
            stale.unlink(missing_ok=True)
        try:  # leave no trace in the inbox when no run holds anything
            self.folder.rmdir()
        except OSError:
            pass
