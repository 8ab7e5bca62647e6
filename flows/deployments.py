"""The deployments that ``footage serve`` runs: an explicit list (three on schedules, the
disclosure flow on demand)."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from flows.compliance import compliance_flow
from flows.disclose import DEPLOYMENT_NAME, disclose_flow
from flows.fixity import fixity_audit
from flows.ingest import ingest_flow
from records.settings import Settings, load_settings


def build_deployments(settings: Settings | None = None) -> list[Any]:
    """The deployments ``footage serve`` runs, each on its cron in the configured schedule zone.

    ``disclosure`` has no schedule: ``footage disclose request`` and the UI's "Run" form start it,
    and a resumed disclosure (suspended while it waits for people) is picked up again by
    whichever ``footage serve`` is running (see :mod:`flows.disclose`).

    ========================  ==========================  ============================
    deployment                flow                        schedule (``[schedule]``)
    ========================  ==========================  ============================
    ``nightly-ingest``        :func:`ingest_flow`         ``ingest_cron``
    ``monthly-compliance``    :func:`compliance_flow`     ``compliance_cron`` (the
                                                          previous month, article 33)
    ``weekly-fixity-audit``   :func:`fixity_audit`        ``fixity_cron``
    ``disclosure``            :func:`disclose_flow`       none (started on demand)
    ========================  ==========================  ============================
    """
    settings = settings or load_settings()
    sched = settings.schedule

    def cron(expression: str) -> list[Cron]:
        return [Cron(expression, timezone=sched.timezone)]

    return [
        # its task runner is the one the flow is defined with (flows.runner.FootageTaskRunner): a
        # served run loads the flow from its entrypoint, so a runner given here would not be used.
        # The entrypoint is the module's name, not its file: loaded from a file path, the module
        # gets a name of Prefect's own, its tasks are pickled by that name, and the workers and
        # scheduler of a Dask cluster, which import flows.ingest, cannot unpickle them
        ingest_flow.to_deployment(
            name="nightly-ingest",
            schedules=cron(sched.ingest_cron),
            description="Ingest the inbox every night.",
            tags=["footage"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        compliance_flow.to_deployment(
            name="monthly-compliance",
            schedules=cron(sched.compliance_cron),
            description="Compliance assessment of the previous month (article 33).",
            tags=["footage"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        fixity_audit.to_deployment(
            name="weekly-fixity-audit",
            schedules=cron(sched.fixity_cron),
            description="Re-hash every stored original and compare with its manifest.",
            tags=["footage"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        disclose_flow.to_deployment(
            name=DEPLOYMENT_NAME,
            description="Release a party's copy of a record (article 31): selection, approval, QA, watermark.",
            tags=["footage", "disclosure"],
            # the run is loaded by module name, whatever folder footage serve runs in
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
