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

import json
import math
import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from storage import ObjectStore, StorageError

from .config import Settings, load_settings
from .records import MANIFEST_PREFIX
from .stores import open_store

#: Weekly, Sunday 03:00 in the schedule's timezone (``footage serve``).
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
    name = manifest[len(MANIFEST_PREFIX) :].removesuffix(".json")
    row: dict[str, Any] = {"manifest": manifest, "sha256": name, "key": None, "version_id": None,
                           "status": "ok", "actual": None, "size": None, "detail": ""}
    try:
        data = json.loads(store.get_bytes(manifest))
        stored = data.get("stored") or {}
        expected = stored.get("sha256") or data.get("sha256")
        row.update(key=stored.get("key"), version_id=stored.get("version_id"), sha256=expected)
    except (StorageError, ValueError, AttributeError) as e:
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
    return row


@task(name="fixity-check", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def check_task(store: ObjectStore, manifest: str) -> dict[str, Any]:
    return check_manifest(store, manifest)


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


def to_markdown(report: dict[str, Any]) -> str:
    lines = []
    if report["warning"]:
        lines += [f"**{report['warning']}**", ""]
    c = report["counts"]
    lines += [
        "# Fixity audit",
        "",
        f"- store: `{report['store']}`",
        f"- started: {report['started']}, finished: {report['finished']}",
        f"- manifests: {report['manifests']}, sampled {report['sample_pct']:g}%: {report['checked']} checked, "
        f"{report['bytes_read'] / 2**20:.1f} MiB re-hashed",
        f"- ok {c['ok']}, **mismatched {c['mismatch']}**, **missing {c['missing']}**, "
        f"bad manifests {c['bad-manifest']}, errors {c['error']}",
        "",
        "Result: " + ("every checked object matches its manifest." if report["ok"] else "**problems found.**"),
    ]
    if report["problems"]:
        lines += ["", "| status | record | key | version | detail |", "|---|---|---|---|---|"]
        for r in report["problems"]:
            lines.append(
                f"| {r['status']} | `{r['sha256']}` | `{r['key']}` | {r['version_id'] or ''} | {r['detail']} |"
            )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], settings: Settings) -> dict[str, Path]:
    day = datetime.now(ZoneInfo(settings.time.timezone)).date().isoformat()
    folder = settings.reports / day
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "fixity.md", folder / "fixity.json"
    md.write_text(to_markdown(report), encoding="utf-8")
    body = dict(report)
    js.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"markdown": md, "json": js}


@flow(name="fixity-audit", log_prints=False)
def fixity_audit(sample_pct: float = 100, settings: Settings | None = None, seed: int | None = None) -> dict[str, Any]:
    """Re-hash ``sample_pct`` percent of the stored originals and compare with their manifests.

    Returns the report (also written as Markdown and JSON under ``<reports>/<date>/`` and
    published as a Prefect artifact); ``report["ok"]`` is False when anything is wrong.
    """
    logger = get_run_logger()
    settings = settings or load_settings()
    started = datetime.now(timezone.utc)
    store = open_store(settings)
    manifests = [o.key for o in store.list(MANIFEST_PREFIX) if o.key.endswith(".json")]
    chosen = choose_sample(manifests, sample_pct, seed)
    rows = [check_task(store, m) for m in chosen]
    report = summarize(rows, len(manifests), sample_pct, store, started)
    paths = write_report(report, settings)
    report["paths"] = {k: str(v) for k, v in paths.items()}
    create_markdown_artifact(key="fixity-audit", markdown=to_markdown(report), description="Fixity audit")
    _audit_event(settings, store, report)
    c = report["counts"]
    (logger.info if report["ok"] else logger.error)(
        "fixity: %d checked, %d mismatched, %d missing, %d bad manifests, %d errors",
        report["checked"], c["mismatch"], c["missing"], c["bad-manifest"], c["error"],
    )
    return report


def _audit_event(settings: Settings, store: ObjectStore, report: dict[str, Any]) -> None:
    """One ``fixity`` event in the audit log, when that module is there."""
    try:
        from .audit import open_audit
        from .roles import acting_user
    except ImportError:
        return
    detail = {k: report[k] for k in ("checked", "counts", "sample_pct", "ok")}
    detail["problems"] = [{k: p[k] for k in ("status", "sha256", "key", "version_id")} for p in report["problems"]]
    open_audit(settings, store).append("fixity", user=acting_user(), detail=detail)


def deployments(settings: Settings) -> list[Any]:
    """The weekly fixity audit for ``footage serve`` (``flows.schedules.EXTRA_DEPLOYMENTS``)."""
    from prefect.schedules import Cron

    cron = settings.schedule.fixity_cron
    return [
        fixity_audit.to_deployment(
            name="weekly-fixity-audit",
            schedules=[Cron(cron, timezone=settings.schedule.timezone)],
            description="Re-hash every stored original and compare with its manifest.",
            tags=["footage"],
        )
    ]
