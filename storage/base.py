"""The object-store interface every backend implements.

It is shaped after S3 Object Lock so that a WORM store fits it exactly: objects are written
once, carry a retention mode and a retain-until date, may carry a legal hold, and are verified by
streaming them back and re-hashing.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol, runtime_checkable

CHUNK = 1 << 20

COMPLIANCE = "COMPLIANCE"
GOVERNANCE = "GOVERNANCE"
MODES = (COMPLIANCE, GOVERNANCE)


class StorageError(Exception):
    """Base of every storage failure."""


class ObjectNotFound(StorageError):
    pass


class RetentionLocked(StorageError):
    """A delete, overwrite or shortening was refused because of retention or a legal hold."""


class RetentionShort(StorageError):
    """The server kept an object's retention shorter than asked (read back after the put)."""


class IntegrityError(StorageError):
    """Content did not match the checksum it was sent or recorded with."""


class InvalidKey(StorageError):
    pass


@dataclass
class ObjectInfo:
    key: str
    size: int
    sha256: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    retain_until: datetime | None = None
    mode: str | None = None
    legal_hold: bool = False
    version_id: str | None = None
    last_modified: datetime | None = None

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "metadata": dict(self.metadata),
            "retain_until": self.retain_until.isoformat() if self.retain_until else None,
            "mode": self.mode,
            "legal_hold": self.legal_hold,
            "version_id": self.version_id,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
        }


@dataclass
class VerifyResult:
    key: str
    expected: str
    actual: str | None
    size: int | None = None
    version_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.actual is not None and self.actual == self.expected

    @property
    def missing(self) -> bool:
        return self.actual is None


@runtime_checkable
class ObjectStore(Protocol):
    """What flows/ may ask of a store. Keys are ``/``-separated, no ``..``, no leading ``/``."""

    name: str
    worm: bool  # True when retention is enforced by the server, not by our own code

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
        """Store ``source`` under ``key``; idempotent when the same content is already there."""

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        """A readable stream of the object's bytes."""

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes: ...

    def download(self, key: str, dest: Path, version_id: str | None = None) -> Path: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def versions(self, key: str) -> list[dict]:
        """Every version (and delete marker) of exactly ``key``, newest first, as dicts with
        ``version_id``, ``delete_marker``, ``is_latest``, ``last_modified`` and ``size``.

        On a versioned bucket anyone allowed to PUT can add a new version on top of a locked
        one; the oldest version is the one written first (:func:`oldest_version`). A backend
        without versions returns its one object (``version_id`` None), or ``[]``.
        """

    def list_versions(self, prefix: str = "") -> Iterator[dict]:
        """Every key under ``prefix`` that still has a version, with every version and delete
        marker of it: dicts as :meth:`versions` gives them plus ``key`` and ``sha256`` (None where
        the listing does not carry it), keys in order, each key's entries newest first.

        Unlike :meth:`list` this sees a key whose newest entry is a delete marker (a plain DELETE
        on a versioned bucket): its bytes are still there, only hidden. Readers that must see
        every key ever written (the audit log's segments) list with this.
        """

    def verify(self, key: str, sha256: str, version_id: str | None = None) -> VerifyResult:
        """Stream the stored object back and compare its SHA-256 with ``sha256``."""

    def extend_retention(self, key: str, until: datetime, version_id: str | None = None) -> ObjectInfo:
        """Move retain-until later; shortening raises :class:`RetentionLocked`."""

    def set_legal_hold(self, key: str, on: bool, version_id: str | None = None) -> ObjectInfo: ...

    def delete(self, key: str, version_id: str | None = None, *, bypass_governance: bool = False) -> None:
        """Delete; refused with :class:`RetentionLocked` while retention or a hold applies."""


def oldest_version(store: "ObjectStore", key: str) -> dict:
    """The version of ``key`` written first (delete markers skipped): the locked original.

    Raises :class:`ObjectNotFound` when ``key`` has no version at all. A delete marker or a
    newer version on top of it does not change the answer.
    """
    real = [v for v in store.versions(key) if not v.get("delete_marker")]
    if not real:
        raise ObjectNotFound(f"no object {key!r} in {store.name} store")
    return real[-1]


def check_key(key: str) -> str:
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key: {key!r}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidKey(f"invalid object key: {key!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidKey(f"object key contains control characters: {key!r}")
    return key


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def sha256_file(path: Path | str) -> str:
    with open(path, "rb") as f:
        return sha256_stream(f)[0]


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
