"""The weekly fixity audit flow: stream stored originals back, re-hash them, compare with their
manifests (:mod:`records.fixity`), report (:mod:`reports.fixity`) and audit the result."""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from storage import ObjectStore

from records.audit import open_audit
from records.fixity import FixityReport, FixityRow, check_manifest, choose_sample, summarize
from records.keys import MANIFESTS
from records.roles import acting_user
from records.settings import Settings, load_settings
from records.store import open_store
from reports.fixity import to_markdown, write_report


@task(name="fixity-check", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def check_task(store: ObjectStore, manifest: str) -> FixityRow:
    return check_manifest(store, manifest)


@flow(name="fixity-audit", log_prints=False)
def fixity_audit(sample_pct: float = 100, settings: Settings | None = None, seed: int | None = None) -> FixityReport:
    """Re-hash ``sample_pct`` percent of the stored originals and compare with their manifests.

    Returns the report (also written as Markdown and JSON under ``<reports>/<date>/`` and
    published as a Prefect artifact); ``report.ok`` is False when anything is wrong.
    """
    logger = get_run_logger()
    settings = settings or load_settings()
    started = datetime.now(timezone.utc)
    store = open_store(settings)
    manifests = [o.key for o in store.list(MANIFESTS) if o.key.endswith(".json")]
    chosen = choose_sample(manifests, sample_pct, seed)
    rows = [check_task(store, m) for m in chosen]
    report = summarize(rows, len(manifests), sample_pct, store, started)
    paths = write_report(report, settings)
    report.paths = {k: str(v) for k, v in paths.items()}
    create_markdown_artifact(key="fixity-audit", markdown=to_markdown(report), description="Fixity audit")
    _audit_event(settings, store, report)
    c = report.counts
    (logger.info if report.ok else logger.error)(
        "fixity: %d checked, %d mismatched, %d missing, %d overwritten, %d locked shorter, %d bad manifests, %d errors",
        report.checked, c.mismatch, c.missing, c.overwritten, c.retention_short, c.bad_manifest, c.error,
    )
    return report


def _audit_event(settings: Settings, store: ObjectStore, report: FixityReport) -> None:
    """One ``fixity`` event in the audit log: what was checked and every problem found."""
    detail = {"checked": report.checked, "counts": report.counts.to_json_dict(), "sample_pct": report.sample_pct,
              "ok": report.ok, "problems": [p.problem() for p in report.problems]}
    open_audit(settings, store).append("fixity", user=acting_user(), detail=detail)
