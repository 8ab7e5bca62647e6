"""The embedded local-filesystem backend: the default, for trying Footage out.

Objects are written once (temp file, fsync, checksum, atomic rename) and made read-only. The
metadata (size, SHA-256, retention, hold) is written before the data is renamed into place, so a
put cut short leaves either nothing visible or a whole object: never data without its lock.
Retention and legal holds are recorded beside each object and enforced by this code, so anybody
with write access to the folder can still remove files: this backend is NOT WORM-grade. Use the
S3 backend with Object Lock for real records.

Temporary files (``.tmp/<host>~<pid>~...``) name the process writing them; a process killed
mid-put (``kill -9``) leaves its file behind, and the next store opened on the folder removes it
when that process is gone from this host, or when it has not been written to for
:data:`STALE_TEMP_S` (a writer on another host, or a name from an older version).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from .base import (
    CHUNK,
    COMPLIANCE,
    GOVERNANCE,
    MODES,
    IntegrityError,
    ObjectInfo,
    ObjectNotFound,
    RetentionLocked,
    StorageError,
    VerifyResult,
    check_key,
    process_alive,
    sha256_file,
    sha256_stream,
)
from .faults import fault


#: a temporary file untouched this long is a leftover whoever wrote it (a put writes as it reads)
STALE_TEMP_S = 3600.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LocalStore:
    name = "local"
    worm = False

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.meta = self.root / ".meta"
        self.tmp = self.root / ".tmp"
        for d in (self.objects, self.meta, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self._clear_temp()

    @staticmethod
    def temp_prefix(pid: int | None = None) -> str:
        """How this host's process ``pid`` (default: this one) begins the names of its temporary files."""
        return f"{socket.gethostname()}~{pid or os.getpid()}~"

    def _clear_temp(self) -> None:
        """Remove the temporary files of writers that are gone (see the module docstring)."""
        host = socket.gethostname()
        now = time.time()
        for entry in os.scandir(self.tmp):
            owner, _, rest = entry.name.partition("~")
            pid = rest.partition("~")[0]
            dead = owner == host and pid.isdigit() and not process_alive(int(pid))
            try:
                if dead or now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass

    # -- paths -------------------------------------------------------------------------------
    def _obj(self, key: str) -> Path:
        return self.objects / check_key(key)

    def _meta(self, key: str) -> Path:
        return self.meta / (check_key(key) + ".json")

    def _read_meta(self, key: str) -> dict:
        try:
            return json.loads(self._meta(key).read_text())
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r} in local store {self.root}") from None

    def _meta_if_any(self, key: str) -> dict | None:
        try:
            return self._read_meta(key)
        except ObjectNotFound:
            return None

    def _write_meta(self, key: str, meta: dict) -> None:
        path = self._meta(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=self.temp_prefix(), suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @staticmethod
    def _info(key: str, meta: dict) -> ObjectInfo:
        ru = meta.get("retain_until")
        lm = meta.get("last_modified")
        return ObjectInfo(
            key=key,
            size=meta["size"],
            sha256=meta.get("sha256"),
            metadata=meta.get("metadata", {}),
            retain_until=datetime.fromisoformat(ru) if ru else None,
            mode=meta.get("mode"),
            legal_hold=bool(meta.get("legal_hold")),
            version_id=None,
            last_modified=datetime.fromisoformat(lm) if lm else None,
        )

    @staticmethod
    def _locked(meta: dict) -> str | None:
        if meta.get("legal_hold"):
            return "a legal hold is set"
        ru = meta.get("retain_until")
        if ru and datetime.fromisoformat(ru) > _now():
            return f"{meta.get('mode')} retention until {ru}"
        return None

    # -- interface ---------------------------------------------------------------------------
    def put(
        self,
        key: str,
        source: Path | str | bytes,
        *,
        sha256: str | None = None,
        metadata: dict[str, str] | None = None,
        retain_until: datetime | None = None,
        mode: str = COMPLIANCE,
        legal_hold: bool = False,
        content_type: str | None = None,
    ) -> ObjectInfo:
        if mode not in MODES:
            raise StorageError(f"retention mode must be one of {MODES}, not {mode!r}")
        if retain_until is not None and retain_until.tzinfo is None:
            raise StorageError("retain_until must be timezone-aware")
        dest = self._obj(key)
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=self.temp_prefix())
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                    h.update(source)
                    size = len(source)
                else:
                    with open(source, "rb") as src:
                        while chunk := src.read(CHUNK):
                            out.write(chunk)
                            h.update(chunk)
                            size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if sha256 is not None and digest != sha256:
                raise IntegrityError(f"content of {key!r} hashes to {digest}, expected {sha256}")
            meta = {
                "size": size,
                "sha256": digest,
                "metadata": dict(metadata or {}),
                "content_type": content_type,
                "retain_until": retain_until.isoformat() if retain_until else None,
                "mode": mode if retain_until else None,
                "legal_hold": legal_hold,
                "last_modified": _now().isoformat(),
            }
            if dest.exists():
                old = self._meta_if_any(key)
                if old is None:
                    # the data of an earlier put landed but its metadata did not (an old
                    # version of this backend wrote data first): the same bytes complete it
                    if sha256_file(dest) == digest:
                        self._write_meta(key, meta)
                        return self._info(key, meta)
                elif old.get("sha256") == digest and dest.stat().st_size == old.get("size"):
                    return self._info(key, self._raise_lock(key, old, retain_until, mode, legal_hold))
                else:
                    why = self._locked(old)
                    if why:
                        raise RetentionLocked(f"cannot overwrite {key!r}: {why}")
                dest.chmod(stat.S_IWUSR | stat.S_IRUSR)
            # Metadata first, then the data: an object is there only when its data is, and its
            # data never lands without the metadata that says how it is locked.
            self._write_meta(key, meta)
            fault("local.after_meta")
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp, dest)
            tmp = None
            fault("local.after_data")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        return self._info(key, meta)

    def _raise_lock(self, key: str, meta: dict, retain_until: datetime | None, mode: str, legal_hold: bool) -> dict:
        """The metadata of an object put again, its lock raised to what this put asks: a later
        retain-until, a legal hold; never lowered (a rerun whose record now needs more)."""
        raised = dict(meta)
        current = meta.get("retain_until")
        if retain_until is not None and (not current or datetime.fromisoformat(current) < retain_until):
            raised["retain_until"] = retain_until.isoformat()
            raised["mode"] = COMPLIANCE if meta.get("mode") == COMPLIANCE else mode
        if legal_hold and not meta.get("legal_hold"):
            raised["legal_hold"] = True
        if raised != meta:
            self._write_meta(key, raised)
        return raised

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        meta = self._read_meta(key)
        if not self._obj(key).exists():
            raise ObjectNotFound(f"object {key!r} has metadata but its content is missing")
        return self._info(key, meta)

    def exists(self, key: str) -> bool:
        return self._meta(key).exists() and self._obj(key).exists()

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        try:
            return open(self._obj(key), "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r} in local store {self.root}") from None

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        with self.open(key, version_id) as f:
            return f.read()

    def download(self, key: str, dest: Path, version_id: str | None = None) -> Path:
        dest = Path(dest)
        with self.open(key, version_id) as src, open(dest, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
        return dest

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.meta
        # walk only the folder the prefix names, not the whole store
        folder = base.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else base
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*.json")):
            key = path.relative_to(base).as_posix()[: -len(".json")]
            # metadata whose data never landed (a put cut short) is no object
            if key.startswith(prefix) and self._obj(key).exists():
                yield self._info(key, json.loads(path.read_text()))

    def versions(self, key: str) -> list[dict]:
        """This backend keeps no versions: the one object, or ``[]`` when there is none."""
        if not self.exists(key):
            return []
        info = self.head(key)
        return [{"version_id": None, "delete_marker": False, "is_latest": True,
                 "last_modified": info.last_modified, "size": info.size}]

    def list_versions(self, prefix: str = "") -> Iterator[dict]:
        """The objects under ``prefix``, one version each (``version_id`` None), in key order; and
        data whose metadata is gone, as one version under a delete marker.

        Metadata is what :meth:`list` walks, so removing a key's metadata file hides the key
        while its bytes stay (readable with :meth:`get_bytes`): what a plain DELETE on a versioned
        S3 bucket does, and listed the same way. A put cut short never leaves data without
        metadata (the metadata is written first; an older version of this backend wrote data
        first, and putting the same bytes again completes it). Metadata whose data is gone is a
        put cut short, or data destroyed: no version, not listed. :meth:`versions` keeps to the
        objects :meth:`list` sees.
        """
        found: dict[str, list[dict]] = {}
        for info in self.list(prefix):
            found[info.key] = [{"key": info.key, "version_id": None, "delete_marker": False, "is_latest": True,
                                "last_modified": info.last_modified, "size": info.size, "sha256": info.sha256}]
        folder = self.objects.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.objects
        if folder.is_dir():
            for path in folder.rglob("*"):
                key = path.relative_to(self.objects).as_posix()
                if key in found or not key.startswith(prefix) or not path.is_file() or self._meta(key).exists():
                    continue
                st = path.stat()
                found[key] = [
                    {"key": key, "version_id": None, "delete_marker": True, "is_latest": True,
                     "last_modified": None, "size": None, "sha256": None},
                    {"key": key, "version_id": None, "delete_marker": False, "is_latest": False,
                     "last_modified": datetime.fromtimestamp(st.st_mtime, timezone.utc), "size": st.st_size,
                     "sha256": None},
                ]
        for key in sorted(found):
            yield from found[key]

    def verify(self, key: str, sha256: str, version_id: str | None = None) -> VerifyResult:
        try:
            with self.open(key) as f:
                actual, size = sha256_stream(f)
        except ObjectNotFound:
            return VerifyResult(key=key, expected=sha256, actual=None)
        return VerifyResult(key=key, expected=sha256, actual=actual, size=size)

    def extend_retention(self, key: str, until: datetime, version_id: str | None = None) -> ObjectInfo:
        if until.tzinfo is None:
            raise StorageError("retention date must be timezone-aware")
        meta = self._read_meta(key)
        cur = meta.get("retain_until")
        if cur and datetime.fromisoformat(cur) > until:
            raise RetentionLocked(f"retention of {key!r} is until {cur}; it can only be extended, not shortened to {until.isoformat()}")
        meta["retain_until"] = until.isoformat()
        meta["mode"] = meta.get("mode") or COMPLIANCE
        self._write_meta(key, meta)
        return self._info(key, meta)

    def set_legal_hold(self, key: str, on: bool, version_id: str | None = None) -> ObjectInfo:
        meta = self._read_meta(key)
        meta["legal_hold"] = bool(on)
        self._write_meta(key, meta)
        return self._info(key, meta)

    def delete(self, key: str, version_id: str | None = None, *, bypass_governance: bool = False) -> None:
        meta = self._read_meta(key)
        if meta.get("legal_hold"):
            raise RetentionLocked(f"cannot delete {key!r}: a legal hold is set")
        why = self._locked(meta)
        if why and not (bypass_governance and meta.get("mode") == GOVERNANCE):
            raise RetentionLocked(f"cannot delete {key!r}: {why}")
        obj = self._obj(key)
        if obj.exists():
            obj.chmod(stat.S_IWUSR | stat.S_IRUSR)
            obj.unlink()
        self._meta(key).unlink()
