"""Fixity audit: stream stored originals back, re-hash them, compare with their manifests.

Each record's manifest (``manifests/<sha256>.json``, written by the ingest flow) names the stored
original (``stored.key`` and, on S3, ``stored.version_id``) and its SHA-256. The audit streams
that exact version back and recomputes the SHA-256; a multipart ETag or composite checksum is
never trusted. Findings: ``mismatch`` (the bytes changed), ``missing`` (the object or version is
gone), ``overwritten`` (a newer version or a delete marker on the key above the pinned version),
``retention-short`` (the lock read back ends before the retain-until the manifest records) and
``bad-manifest`` (a manifest that cannot be read or names no object). The master and the access
copy the manifest lists are checked the same way. Reports go to
``<reports>/<date>/fixity.md`` and ``fixity.json`` and to a Prefect markdown artifact. A store
that is not write-once says so in the first line of every report.

The report is :class:`FixityReport` (schema ``footage.fixity/1``), one :class:`FixityRow` per
record checked.
"""

from __future__ import annotations

import math
import random
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ConfigDict, Field

from storage import ObjectStore, StorageError

from records.contract import Contract, IsoTime
from records.keys import MANIFESTS
from records.manifest import Manifest, StoredObject
from records.pinned import read_first

_SHA = re.compile(r"^[0-9a-f]{64}$")
#: what a check finds, in the order the counts are written
STATUSES = ("ok", "mismatch", "missing", "overwritten", "retention-short", "bad-manifest", "error")


class DerivativeCheck(Contract):
    """A derivative (master, access copy) the manifest lists, re-hashed."""

    kind: str | None = None
    key: str
    status: str


class FixityRow(Contract):
    """One record checked: its manifest, the stored original (``key``, ``version_id``), the
    ``status`` (:data:`STATUSES`), the SHA-256 read (``actual``), the bytes read (``size``, the
    derivatives' included) and why it is not ok (``detail``); ``derivatives`` once its manifest
    was read and its original checked, ``errors`` where a derivative could not be read."""

    OPTIONAL = frozenset({"derivatives", "errors"})

    manifest: str
    sha256: str
    key: str | None = None
    version_id: str | None = None
    status: str = "ok"
    actual: str | None = None
    size: int | None = None
    detail: str = ""
    derivatives: list[DerivativeCheck] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    def problem(self) -> dict[str, Any]:
        """What the ``fixity`` audit event keeps of a problem."""
        return {"status": self.status, "sha256": self.sha256, "key": self.key, "version_id": self.version_id}


class FixityCounts(Contract):
    """How many records had each status."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    ok: int = 0
    mismatch: int = 0
    missing: int = 0
    overwritten: int = 0
    retention_short: int = Field(0, alias="retention-short")
    bad_manifest: int = Field(0, alias="bad-manifest")
    error: int = 0


class FixityReport(Contract):
    """One fixity audit: the store, when, how many manifests and which share of them were
    checked, the counts, the bytes re-hashed, the verdict (``ok``), the problems and every
    record's row (``results``); ``paths`` of its report files once written."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    OPTIONAL = frozenset({"paths"})

    schema_: str = Field("footage.fixity/1", alias="schema")
    warning: str | None
    store: str
    started: IsoTime
    finished: IsoTime
    manifests: int
    sample_pct: int | float
    checked: int
    counts: FixityCounts
    bytes_read: int
    ok: bool
    problems: list[FixityRow]
    results: list[FixityRow]
    paths: dict[str, str] | None = None  # markdown, json: the report files (reports.fixity.write_report)

    def without_results(self) -> dict[str, Any]:
        """The report as ``footage storage audit --json`` prints it: all but ``results``."""
        return {k: v for k, v in self.to_json_dict().items() if k != "results"}


def store_warning(store: ObjectStore) -> str | None:
    """The first line of every report when ``store`` is not write-once, else None."""
    warning = getattr(store, "warning", None)
    if warning:
        return warning
    if not getattr(store, "worm", False):
        return (
            f"WARNING: the {store.name} backend is not WORM-grade: retention is enforced by Footage, "
            "not by the storage, so records there can be deleted or altered by anyone with access."
        )
    return None


def choose_sample(keys: list[str], sample_pct: float, seed: int | None = None) -> list[str]:
    """``sample_pct`` percent of ``keys`` (at least one when any), in key order."""
    if not 0 < sample_pct <= 100:
        raise ValueError(f"sample_pct must be in (0, 100], not {sample_pct}")
    if sample_pct >= 100 or not keys:
        return sorted(keys)
    n = max(1, math.ceil(len(keys) * sample_pct / 100))
    return sorted(random.Random(seed).sample(keys, n))


def check_manifest(store: ObjectStore, manifest: str) -> FixityRow:
    """Audit one record: read its manifest, then check every stored copy it lists (:func:`check_copy`)."""
    row = FixityRow(manifest=manifest, sha256=manifest[len(MANIFESTS) :].removesuffix(".json"))
    name = row.sha256
    try:
        record = Manifest.from_json(read_first(store, manifest))
        expected = record.stored.sha256 or record.sha256
        row.key, row.version_id, row.sha256 = record.stored.key, record.stored.version_id, expected
    except (StorageError, ValueError) as e:
        return _fail(row, "bad-manifest", f"cannot read manifest: {e}")
    if not row.key or not isinstance(expected, str) or not _SHA.match(expected):
        return _fail(row, "bad-manifest", "manifest names no stored key or no SHA-256")
    if expected != name:
        return _fail(row, "bad-manifest", f"manifest {manifest} describes record {expected}")
    try:
        original = check_copy(store, record.stored, expected)
    except StorageError as e:
        return _fail(row, "error", str(e))
    row.actual, row.size = original.actual, original.size
    if original.status != "ok":
        _fail(row, original.status, {"missing": "the stored object (or its version) is gone",
                                     "mismatch": f"content hashes to {original.actual}"}.get(original.status,
                                                                                            original.detail))
    _check_derivatives(store, record, row)
    return row


def _fail(row: FixityRow, status: str, detail: str) -> FixityRow:
    row.status, row.detail = status, detail
    return row


class CopyCheck(Contract):
    """One stored copy checked: ``status`` (:data:`STATUSES`), why (``detail``), the SHA-256 read
    (``actual``) and the bytes read (``size``)."""

    status: str = "ok"
    detail: str = ""
    actual: str | None = None
    size: int | None = None


def check_copy(store: ObjectStore, copy: StoredObject, expected: str) -> CopyCheck:
    """One stored copy (an original or a derivative) as its manifest lists it: its version streamed
    back and re-hashed (``missing``, ``mismatch``); then newer versions on its key (``overwritten``:
    a plain GET would return them, issue 23) and its lock read back against the retain-until the
    manifest records (``retention-short``)."""
    result = store.verify(copy.key, expected, version_id=copy.version_id)
    out = CopyCheck(actual=result.actual, size=result.size)
    if result.missing:
        return out.model_copy(update={"status": "missing", "detail": "is gone"})
    if not result.ok:
        return out.model_copy(update={"status": "mismatch", "detail": f"content hashes to {result.actual}"})
    problems = [(status, text) for status, text in (("overwritten", _newer_versions(store, copy)),
                                                     ("retention-short", _short_lock(store, copy))) if text]
    if problems:
        return out.model_copy(update={"status": problems[0][0], "detail": "; ".join(text for _, text in problems)})
    return out


def _newer_versions(store: ObjectStore, copy: StoredObject) -> str | None:
    """What stands on the copy's key above the version its manifest pins (the oldest when it
    names none): new versions or delete markers, which a plain read would meet instead."""
    versions = store.versions(copy.key)
    ids = [v["version_id"] for v in versions]
    pinned = copy.version_id if copy.version_id in ids else next(
        (v["version_id"] for v in reversed(versions) if not v.get("delete_marker")), None)
    newer = versions[: ids.index(pinned)] if pinned in ids else []
    if not newer:
        return None
    names = ", ".join(f"{v['version_id']}{' (delete marker)' if v.get('delete_marker') else ''}" for v in newer)
    return f"{len(newer)} newer version(s) on its key above the one its manifest pins: {names}"


def _short_lock(store: ObjectStore, copy: StoredObject) -> str | None:
    """How the copy's lock, read back from the store, falls short of the manifest's retain-until."""
    lock_enabled = getattr(store, "lock_enabled", None)
    if copy.retain_until is None or (lock_enabled is not None and not lock_enabled()):
        return None  # nothing asked, or a bucket without Object Lock (its reports say so first)
    got = store.head(copy.key, copy.version_id).retain_until
    if got is not None and got >= copy.retain_until - timedelta(seconds=1):
        return None
    return (f"retained until {got.isoformat() if got else 'no date'}, shorter than the "
            f"{copy.retain_until.isoformat()} its manifest records")


def _check_derivatives(store: ObjectStore, record: Manifest, row: FixityRow) -> None:
    """The master and the access copy the manifest lists, each checked like the original; the
    first problem found sets the row's status when the original itself was fine."""
    row.derivatives = []
    for d in record.archive.stored if record.archive else []:
        try:
            result = check_copy(store, d, d.sha256)
        except StorageError as e:
            result = CopyCheck(status="error", detail="could not be read")
            row.errors = [*row.errors, str(e)]
        row.derivatives.append(DerivativeCheck(kind=d.kind, key=d.key, status=result.status))
        row.size = (row.size or 0) + (result.size or 0)
        if result.status != "ok" and row.status == "ok":
            _fail(row, result.status, f"{d.kind} {d.key} {result.detail}")


def summarize(rows: list[FixityRow], total: int, sample_pct: float, store: ObjectStore,
              started: datetime) -> FixityReport:
    counts = FixityCounts.model_validate({s: sum(1 for r in rows if r.status == s) for s in STATUSES})
    return FixityReport(
        warning=store_warning(store),
        store=repr(store) if store.name == "s3" else store.name,
        started=started,
        finished=datetime.now(timezone.utc),
        manifests=total,
        sample_pct=sample_pct,
        checked=len(rows),
        counts=counts,
        bytes_read=sum(r.size or 0 for r in rows),
        ok=counts.ok == len(rows),
        problems=[r for r in rows if r.status != "ok"],
        results=rows,
    )
