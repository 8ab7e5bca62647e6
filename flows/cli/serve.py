"""``footage serve``: run the scheduled deployments of :mod:`flows.deployments` on a Prefect server.

Prefect and the flows are imported inside the command: importing them takes seconds that every
other ``footage`` command would pay.
"""

from __future__ import annotations

from flows.cli.common import err, require_server


def serve() -> None:
    """Serve the scheduled deployments (nightly ingest) so they appear in the Prefect UI."""
    require_server()
    # Prefect, see the module docstring
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments

    deployments = build_deployments()
    for d in deployments:
        err.print(f"serving [bold]{d.name}[/] on {d.schedules[0].schedule}")
    prefect_serve(*deployments)
