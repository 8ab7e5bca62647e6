"""Fixity audit: stream stored originals back, re-hash them, compare with their manifests.

Each record's manifest (``manifests/<sha256>.json``, written by the ingest flow) names the stored
original (``stored.key`` and, on S3, ``stored.version_id``) and its SHA-256. The audit streams
that exact version back and recomputes the SHA-256; a multipart ETag or composite checksum is
never trusted. Findings: ``mismatch`` (the bytes changed), ``missing`` (the object or version is
gone) and ``bad-manifest`` (a manifest that cannot be read or names no object). Reports go to
``<reports>/<date>/fixity.md`` and ``fixity.json`` and to a Prefect markdown artifact. A store
that is not write-once says so in the first line of every report.
"""

from __future__ import annotations

import math
import random
import re
from datetime import datetime, timezone
from typing import Any

from storage import ObjectStore, StorageError

from records.keys import MANIFESTS
from records.manifest import Manifest
from records.pinned import read_first

_SHA = re.compile(r"^[0-9a-f]{64}$")


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


def check_manifest(store: ObjectStore, manifest: str) -> dict[str, Any]:
    """Audit one record: read its manifest, stream the stored original, compare SHA-256."""
    name = manifest[len(MANIFESTS) :].removesuffix(".json")
    row: dict[str, Any] = {"manifest": manifest, "sha256": name, "key": None, "version_id": None,
                           "status": "ok", "actual": None, "size": None, "detail": ""}
    try:
        record = Manifest.from_json(read_first(store, manifest))
        expected = record.stored.sha256 or record.sha256
        row.update(key=record.stored.key, version_id=record.stored.version_id, sha256=expected)
    except (StorageError, ValueError) as e:
        row.update(status="bad-manifest", detail=f"cannot read manifest: {e}")
        return row
    if not row["key"] or not isinstance(expected, str) or not _SHA.match(expected):
        row.update(status="bad-manifest", detail="manifest names no stored key or no SHA-256")
        return row
    if expected != name:
        row.update(status="bad-manifest", detail=f"manifest {manifest} describes record {expected}")
        return row
    try:
        result = store.verify(row["key"], expected, version_id=row["version_id"])
    except StorageError as e:
        row.update(status="error", detail=str(e))
        return row
    row.update(actual=result.actual, size=result.size)
    if result.missing:
        row.update(status="missing", detail="the stored object (or its version) is gone")
    elif not result.ok:
        row.update(status="mismatch", detail=f"content hashes to {result.actual}")
    _check_derivatives(store, record, row)
    return row


def _check_derivatives(store: ObjectStore, record: Manifest, row: dict[str, Any]) -> None:
    """The master and the access copy the manifest lists, each re-hashed like the original; the
    first problem found sets the row's status when the original itself was fine."""
    row["derivatives"] = []
    for d in record.archive.stored if record.archive else []:
        try:
            result = store.verify(d.key, d.sha256, version_id=d.version_id)
            status = "missing" if result.missing else "ok" if result.ok else "mismatch"
        except StorageError as e:
            result, status = None, "error"
            row.setdefault("errors", []).append(str(e))
        row["derivatives"].append({"kind": d.kind, "key": d.key, "status": status})
        row["size"] = (row["size"] or 0) + (result.size or 0 if result else 0)
        if status != "ok" and row["status"] == "ok":
            what = {"missing": "is gone", "mismatch": f"content hashes to {result.actual if result else None}",
                    "error": "could not be read"}[status]
            row.update(status=status, detail=f"{d.kind} {d.key} {what}")


def summarize(rows: list[dict[str, Any]], total: int, sample_pct: float, store: ObjectStore,
              started: datetime) -> dict[str, Any]:
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "mismatch", "missing", "bad-manifest", "error")}
    return {
        "schema": "footage.fixity/1",
        "warning": store_warning(store),
        "store": repr(store) if store.name == "s3" else store.name,
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "manifests": total,
        "sample_pct": sample_pct,
        "checked": len(rows),
        "counts": counts,
        "bytes_read": sum(r["size"] or 0 for r in rows),
        "ok": counts["mismatch"] == counts["missing"] == counts["bad-manifest"] == counts["error"] == 0,
        "problems": [r for r in rows if r["status"] != "ok"],
        "results": rows,
    }
