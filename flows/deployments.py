"""The deployments that ``footage serve`` runs on schedules: an explicit list."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron

from flows.compliance import compliance_flow
from flows.fixity import fixity_audit
from flows.ingest import ingest_flow
from flows.runner import dask_runner
from records.settings import Settings, load_settings


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
    settings = settings or load_settings()
    sched = settings.schedule

    def cron(expression: str) -> list[Cron]:
        return [Cron(expression, timezone=sched.timezone)]

    return [
        ingest_flow.with_options(task_runner=dask_runner(settings)).to_deployment(
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
