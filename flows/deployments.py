"""Deployments that ``footage serve`` runs on schedules, and the check for a real Prefect server."""

from __future__ import annotations

import importlib
from typing import Any

from records.settings import load_settings

SERVER_HINT = (
    "footage serve needs a Prefect server: Prefect does not run schedules on its ephemeral server. "
    "Start one with `prefect server start` and set PREFECT_API_URL (for example "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api`), then run footage serve again."
)


def require_server() -> str | None:
    """None when a Prefect server answers at PREFECT_API_URL, else what is wrong."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return SERVER_HINT
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return f"no Prefect server answers at PREFECT_API_URL={url} ({type(exc).__name__}). " + SERVER_HINT
    return None


def build_deployments() -> list[Any]:
    """The deployments served by ``footage serve``: the nightly ingest, plus those other modules add."""
    from prefect.schedules import Cron

    from flows.ingest import ingest_flow

    settings = load_settings()
    sched = settings.schedule
    deployments = [
        ingest_flow.to_deployment(
            name="nightly-ingest",
            schedules=[Cron(sched.ingest_cron, timezone=sched.timezone)],
            description="Ingest the inbox every night.",
            tags=["footage"],
        )
    ]
    for ref in EXTRA_DEPLOYMENTS:
        module, _, func = ref.partition(":")
        deployments.extend(getattr(importlib.import_module(module), func)(settings))
    return deployments


# Other capabilities (fixity audit, compliance report) add "module:function" here; the function
# takes the Settings and returns a list of deployments.
EXTRA_DEPLOYMENTS: tuple[str, ...] = ("flows.compliance:deployments", "flows.fixity:deployments")
