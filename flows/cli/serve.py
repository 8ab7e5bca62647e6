"""``footage serve``: run the deployments of :mod:`flows.deployments` on a Prefect server.

It serves the scheduled flows (nightly ingest, monthly compliance, weekly fixity audit) and the
disclosure flow, which is started on demand and, after each wait for people, resumed by
whichever ``footage serve`` is up. Beside them a thread expires disclosures that waited past
``disclosure.pause_timeout_hours`` (:func:`flows.disclose.expire_overdue`), every
``disclosure.expiry_check_s`` seconds.

Prefect and the flows are imported inside the command: importing them takes seconds that every
other ``footage`` command would pay.
"""

from __future__ import annotations

import threading

from flows.cli.common import err, load_settings, require_server


def _expiry_loop(every: float, stop: threading.Event) -> None:
    """Expire overdue disclosures until ``stop`` is set; a failed pass is reported, not fatal."""
    from flows.disclose import expire_overdue

    while not stop.wait(every):
        try:
            for receipt in expire_overdue():
                err.print(f"disclosure {receipt['run']} expired (waited past its limit)", highlight=False)
        except Exception as exc:  # the server unreachable for a moment: try again next time
            err.print(f"[yellow]expiry check failed:[/] {type(exc).__name__}: {exc}", highlight=False)


def serve() -> None:
    """Serve the deployments (nightly ingest, compliance, fixity, disclosure) so that they run and
    appear in the Prefect UI."""
    require_server()
    # Prefect, see the module docstring
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments

    settings = load_settings()
    deployments = build_deployments(settings)
    for d in deployments:
        when = f"on {d.schedules[0].schedule}" if d.schedules else "on demand"
        err.print(f"serving [bold]{d.name}[/] {when}", highlight=False)
    stop = threading.Event()
    threading.Thread(target=_expiry_loop, args=(settings.disclosure.expiry_check_s, stop), daemon=True,
                     name="disclosure-expiry").start()
    try:
        prefect_serve(*deployments)
    finally:
        stop.set()
