"""Fixity audit: stream stored originals back, re-hash them, compare with their manifests.

Each record's manifest (``manifests/<sha256>.json``, written by the ingest flow) names the stored
original (``stored.key`` and, on S3, ``stored.version_id``) and its SHA-256. The audit streams
that exact version back and recomputes the SHA-256; a multipart ETag or composite checksum is
never trusted. Findings: ``mismatch`` (the bytes changed), ``missing`` (the object or version is
gone) and ``bad-manifest`` (a manifest that cannot be read or names no object). Reports go to
``<reports>/<date>/fixity.md`` and ``fixity.json`` and to a Prefect markdown artifact. A store
that is not write-once says so in the first line of every report.

The report is :class:`FixityReport` (schema ``footage.fixity/1``), one :class:`FixityRow` per
record checked.
"""

from __future__ import annotations

import math
import random
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import ConfigDict, Field

from storage import ObjectStore, StorageError

from records.contract import Contract, IsoTime
from records.keys import MANIFESTS
from records.manifest import Manifest
from records.pinned import read_first

_SHA = re.compile(r"^[0-9a-f]{64}$")
#: what a check finds, in the order the counts are written
STATUSES = ("ok", "mismatch", "missing", "bad-manifest", "error")


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
    """Audit one record: read its manifest, stream the stored original, compare SHA-256."""
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
        result = store.verify(row.key, expected, version_id=row.version_id)
    except StorageError as e:
        return _fail(row, "error", str(e))
    row.actual, row.size = result.actual, result.size
    if result.missing:
        _fail(row, "missing", "the stored object (or its version) is gone")
    elif not result.ok:
        _fail(row, "mismatch", f"content hashes to {result.actual}")
    _check_derivatives(store, record, row)
    return row


def _fail(row: FixityRow, status: str, detail: str) -> FixityRow:
    row.status, row.detail = status, detail
    return row


def _check_derivatives(store: ObjectStore, record: Manifest, row: FixityRow) -> None:
    """The master and the access copy the manifest lists, each re-hashed like the original; the
    first problem found sets the row's status when the original itself was fine."""
    row.derivatives = []
    for d in record.archive.stored if record.archive else []:
        try:
            result = store.verify(d.key, d.sha256, version_id=d.version_id)
            status = "missing" if result.missing else "ok" if result.ok else "mismatch"
        except StorageError as e:
            result, status = None, "error"
            row.errors = [*row.errors, str(e)]
        row.derivatives.append(DerivativeCheck(kind=d.kind, key=d.key, status=status))
        row.size = (row.size or 0) + (result.size or 0 if result else 0)
        if status != "ok" and row.status == "ok":
            what = {"missing": "is gone", "mismatch": f"content hashes to {result.actual if result else None}",
                    "error": "could not be read"}[status]
            _fail(row, status, f"{d.kind} {d.key} {what}")


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
        ok=counts.mismatch == counts.missing == counts.bad_manifest == counts.error == 0,
        problems=[r for r in rows if r.status != "ok"],
        results=rows,
    )
