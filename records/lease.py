"""Leases on inbox files, so that two runs never process the same file at once.

A lease is a small JSON file in ``<inbox>/.footage-leases/``. Its body is written to a temporary
file first, which is then hard-linked to the lease's name: ``link`` fails when the name exists, is
atomic on local filesystems and on NFS v3+ shares (the classic NFS lock), so it holds across
machines that mount the same inbox, and a lease is never visible without its body (an
``O_EXCL`` file created empty and written afterwards was read as ``{}`` by a rival, counted as
stale and taken: issue 23). It names the run, host and process that hold it and when it
expires. A lease is stale when it has expired, or when its host is this host and its process is
gone (a killed run); a lease that cannot be read (an older version's empty file, a torn write)
holds for the TTL counted from its mtime. A stale lease is first renamed away (only one
contender's rename succeeds; a contender that finds it renamed a fresh lease instead puts it back),
then taken anew. Discovery skips the folder (its name starts with a dot).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from storage.base import process_alive  # records.scratch and flows.runtime import it from here too

FOLDER = ".footage-leases"
TMP = ".tmp-"  # <lease>.tmp-<host>-<pid>-<random>: a body not yet linked


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

    def _stale(self, lease: dict, mtime: float) -> bool:
        now = datetime.now(timezone.utc)
        try:
            if datetime.fromisoformat(lease["expires"]) < now:
                return True
            return lease.get("host") == self.host and not process_alive(int(lease["pid"]))
        except (KeyError, ValueError, TypeError):
            # unreadable (an older version's O_EXCL file not yet written, a torn write): it may
            # belong to a live run, so it holds for the TTL from when it was made
            return datetime.fromtimestamp(mtime, timezone.utc) + self.ttl < now

    @staticmethod
    def _read(path: Path) -> tuple[dict, os.stat_result] | None:
        """The lease at ``path`` (``{}`` when unreadable) and its file's identity; None when none."""
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        return (body if isinstance(body, dict) else {}), st

    def _create(self, path: Path, body: dict) -> bool:
        """Make the lease ``path`` holding ``body`` at once; False when it exists already.

        The body goes to a temporary file that is then hard-linked to the lease's name (``link``
        refuses an existing name, atomically, on NFS too), so no rival ever reads it half
        written. Where the filesystem has no hard links, ``O_EXCL`` and a write (a rival reading
        it empty meanwhile counts it as held, see :meth:`_stale`).
        """
        tmp = path.with_name(f"{path.name}{TMP}{self.host}-{self.pid}-{uuid.uuid4().hex}")
        with open(tmp, "x") as f:
            json.dump(body, f)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
        finally:
            tmp.unlink(missing_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
        return True

    def _break(self, path: Path, judged: os.stat_result) -> None:
        """Rename the stale lease ``path`` away: only one contender's rename succeeds. Should the
        file renamed not be the one judged stale (a rival broke it and took the name anew just
        before), the fresh lease is put back."""
        away = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
        try:
            os.rename(path, away)
        except FileNotFoundError:
            return
        try:
            st = os.stat(away)
        except FileNotFoundError:  # another run's release_all cleared it: it was stale
            return
        if (st.st_dev, st.st_ino) != (judged.st_dev, judged.st_ino):
            try:
                os.link(away, path)
            except FileExistsError:
                pass
            away.unlink(missing_ok=True)

    def acquire(self, rel: str) -> dict | None:
        """Take the lease on inbox file ``rel``; None when taken, else the holder's lease."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(rel)
        now = datetime.now(timezone.utc)
        body = {"file": rel, "run": self.run, "host": self.host, "pid": self.pid,
                "acquired": now.isoformat(), "expires": (now + self.ttl).isoformat()}
        unknown = {"file": rel, "run": "unknown", "host": "unknown"}
        for _ in range(3):
            seen = self._read(path)  # looked at first: a lease held by another run costs no write
            if seen is not None:
                held, st = seen
                if not self._stale(held, st.st_mtime):
                    return held or unknown
                self._break(path, st)
            try:
                if self._create(path, body):
                    self.held[rel] = path
                    return None
            except FileNotFoundError:  # another run removed the empty folder just now
                self.folder.mkdir(parents=True, exist_ok=True)
        return unknown

    def release(self, rel: str) -> None:
        """Give back the lease on ``rel`` (a file this run will not take after all)."""
        path = self.held.pop(rel, None)
        if path is not None:
            self._unlink_mine(path)

    def _unlink_mine(self, path: Path) -> None:
        """Remove the lease ``path`` when it is still this run's (a rival may have broken it as
        stale and taken the name since: that lease is not ours to remove)."""
        seen = self._read(path)
        if seen is not None and seen[0].get("run") == self.run:
            path.unlink(missing_ok=True)

    def release_all(self) -> None:
        for path in self.held.values():
            self._unlink_mine(path)
        self.held.clear()
        for stale in self.folder.glob("*.stale-*") if self.folder.is_dir() else []:
            stale.unlink(missing_ok=True)
        for tmp in self.folder.glob(f"*{TMP}*") if self.folder.is_dir() else []:
            self._remove_orphan(tmp)
        try:  # leave no trace in the inbox when no run holds anything
            self.folder.rmdir()
        except OSError:
            pass

    def _remove_orphan(self, tmp: Path) -> None:
        """A lease body of a run killed before it linked or removed it: gone when its process on
        this host is, or after a minute (a live writer keeps it for microseconds)."""
        host, _, rest = tmp.name.partition(TMP)[2].rpartition("-")[0].rpartition("-")
        try:
            age = datetime.now(timezone.utc).timestamp() - tmp.stat().st_mtime
            dead = host == self.host and rest.isdigit() and not process_alive(int(rest))
        except FileNotFoundError:
            return
        if dead or age > 60:
            tmp.unlink(missing_ok=True)
