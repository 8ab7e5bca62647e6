"""Deployments that ``footage serve`` runs on schedules, and the check for a real Prefect server."""

from __future__ import annotations

from typing import Any

import httpx
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL

from flows.compliance import compliance_flow
from flows.fixity import fixity_audit
from flows.ingest import ingest_flow
from records.settings import Settings, load_settings

SERVER_HINT = (
    "footage serve needs a Prefect server: Prefect does not run schedules on its ephemeral server. "
    "Start one with `prefect server start` and set PREFECT_API_URL (for example "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api`), then run footage serve again."
)


def require_server() -> str | None:
    """None when a Prefect server answers at PREFECT_API_URL, else what is wrong."""
    url = PREFECT_API_URL.value()
    if not url:
        return SERVER_HINT
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return f"no Prefect server answers at PREFECT_API_URL={url} ({type(exc).__name__}). " + SERVER_HINT
    return None


def build_deployments(settings: Settings | None = None) -> list[Any]:
    """The deployments ``footage serve`` runs, each on its cron in the configured schedule zone.

    ========================  ==========================  ============================
    deployment                flow                        schedule (``[schedule]``)
    ========================  ==========================  ============================
    ``nightly-ingest``        :func:`ingest_flow`         ``ingest_cron``
    ``monthly-compliance``    :func:`compliance_flow`     ``compliance_cron`` (the
                                                          previous month, article 33)
    ``weekly-fixity-audit``   :func:`fixity_audit`        ``fixity_cron``
    ========================  ==========================  ============================
    """
    sched = (settings or load_settings()).schedule

    def cron(expression: str) -> list[Cron]:
        return [Cron(expression, timezone=sched.timezone)]

    return [
        ingest_flow.to_deployment(
            name="nightly-ingest",
            schedules=cron(sched.ingest_cron),
            description="Ingest the inbox every night.",
            tags=["footage"],
        ),
        compliance_flow.to_deployment(
            name="monthly-compliance",
            schedules=cron(sched.compliance_cron),
            description="Compliance assessment of the previous month (article 33).",
            tags=["footage"],
        ),
        fixity_audit.to_deployment(
            name="weekly-fixity-audit",
            schedules=cron(sched.fixity_cron),
            description="Re-hash every stored original and compare with its manifest.",
            tags=["footage"],
        ),
    ]
