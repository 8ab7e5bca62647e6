"""``footage serve``: run the deployments of :mod:`flows.deployments` on a Prefect server.

It serves the scheduled flows (nightly ingest, monthly compliance, weekly fixity audit) and the
disclosure flow, which is started on demand and, after each wait for people, resumed by
whichever ``footage serve`` is up. Before serving it creates or updates the Prefect automation
that posts their failed or crashed runs to ``[notify] webhook_url`` (:mod:`flows.notify`; without
one, it removes it). Beside them a watch thread

* expires disclosures that waited past ``disclosure.pause_timeout_hours``
  (:func:`flows.disclose.expire_overdue`), every ``disclosure.expiry_check_s`` seconds;
* restarts this process (``exec``, same command line) when Prefect's runner stopped polling:
  the runner gives up its polling loop after a few failed polls ("Service exceeded error
  threshold"), so a Prefect server down for half a minute would otherwise leave a
  ``footage serve`` that looks alive and never runs anything again.

Prefect and the flows are imported inside the command: importing them takes seconds that every
other ``footage`` command would pay.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import datetime, timezone

import typer

from flows.cli.common import err, load_settings, require_server
from flows.cli.notify import setup_notifications

STALE_MIN_S = 30.0  # never call the runner stalled before its last poll is this old


def _stalled(since: float, stale: float) -> bool:
    """True when the server answers but nobody polled the disclosure deployment for ``stale``
    seconds, this process having served for longer than that."""
    from prefect.client.orchestration import get_client

    if time.monotonic() - since < stale:
        return False
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("disclose/disclosure")
    polled = dep.last_polled
    return polled is None or (datetime.now(timezone.utc) - polled).total_seconds() > stale


def _watch(expiry_every: float, stale: float, stop: threading.Event) -> None:
    """Expire overdue disclosures and restart a stalled runner, until ``stop`` is set.

    A failed pass (the server unreachable for a moment) is reported, not fatal.
    """
    from flows.disclose import expire_overdue

    started = time.monotonic()
    every = min(expiry_every, stale / 3)
    last_expiry = 0.0
    while not stop.wait(every):
        try:
            if time.monotonic() - last_expiry >= expiry_every:
                last_expiry = time.monotonic()
                for receipt in expire_overdue():
                    err.print(f"disclosure {receipt.run} expired (waited past its limit)", highlight=False)
            if _stalled(started, stale):
                err.print("[yellow]Prefect's runner stopped polling (the Prefect server was unreachable for a "
                          "while): restarting footage serve[/]", highlight=False)
                sys.stderr.flush()
                os.execv(sys.executable, sys.orig_argv)
        except Exception as exc:  # the server unreachable for a moment: try again next time
            err.print(f"[yellow]watch pass failed:[/] {type(exc).__name__}: {exc}", highlight=False)


def serve() -> None:
    """Serve the deployments (nightly ingest, compliance, fixity, disclosure) so that they run and
    appear in the Prefect UI."""
    require_server()
    # Prefect, see the module docstring
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY

    from flows.deployments import build_deployments

    settings = load_settings()
    deployments = build_deployments(settings)
    for d in deployments:
        when = f"on {d.schedules[0].schedule}" if d.schedules else "on demand"
        err.print(f"serving [bold]{d.name}[/] {when}", highlight=False)
    try:  # the automation that posts failed runs ([notify])
        setup_notifications(settings, deployments)
    except typer.Exit:  # said why already: the nightly run matters more than the message about it
        err.print("[yellow]serving without failure notifications until [notify] is fixed[/]", highlight=False)
    stop = threading.Event()
    stale = max(STALE_MIN_S, 5.0 * float(PREFECT_RUNNER_POLL_FREQUENCY.value()))
    threading.Thread(target=_watch, args=(settings.disclosure.expiry_check_s, stale, stop), daemon=True,
                     name="footage-serve-watch").start()
    try:
        prefect_serve(*deployments)
    finally:
        stop.set()
