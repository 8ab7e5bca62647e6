"""Prefect flows of the monthly compliance assessment (article 33) and the deadlines artifact.

The counting lives in :mod:`records.compliance`, the rendering in :mod:`reports.compliance`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from records.audit import open_audit
from records.compliance import previous_month
from records.deadlines import deadline_report
from records.gate import check_action
from records.roles import acting_user, mode_banner
from records.settings import load_settings
from records.store import open_store
from reports.compliance import _artifact_key, artifact_markdown, build_report
from reports.deadlines import deadlines_markdown


@flow(name="compliance-report", log_prints=False)
def compliance_flow(month: str | None = None, as_user: str | None = None) -> dict[str, Any]:
    """Build, store and publish the compliance report of ``month`` (default: the previous month,
    which is what the monthly schedule wants)."""
    settings = load_settings()
    store = open_store(settings)
    user = acting_user(as_user)
    check_action(settings, user, "report.compliance", open_audit(settings, store))
    month = month or previous_month(tz=settings.time.timezone)
    report = build_report(settings, store, month, user=user)
    create_markdown_artifact(
        key=_artifact_key(f"compliance-{month}"),
        markdown=artifact_markdown(report),
        description=f"Compliance assessment {month} (zh-CN, en)",
    )
    return {
        "month": month,
        "files": {k: str(v) for k, v in report.files.items()},
        "stored": report.stored,
        "total": asdict(report.data.total),
    }


@flow(name="deadlines-report", log_prints=False)
def deadlines_flow(as_user: str | None = None) -> dict[str, Any]:
    """Publish late and at-risk items (article 29) as a Prefect artifact."""
    settings = load_settings()
    store = open_store(settings)
    user = acting_user(as_user)
    check_action(settings, user, "report.deadlines", open_audit(settings, store))
    rep = deadline_report(settings, store)
    banners = [mode_banner(settings, user), mode_banner(settings, user, lang="zh-CN")]
    md = deadlines_markdown(rep, settings.time.timezone, banners=banners)
    create_markdown_artifact(key="deadlines", markdown=md,
                             description="Late and at-risk items (article 29)")
    return rep.to_dict()
