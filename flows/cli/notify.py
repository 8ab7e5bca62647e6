"""``footage notify setup|test``: the webhook that hears of failed or crashed runs (``[notify]``).

``footage serve`` does what ``setup`` does each time it starts (:func:`setup_notifications`);
the logic is in :mod:`flows.notify`.
"""

from __future__ import annotations

from typing import Any

import typer

from flows.cli.common import PROBLEM_EXIT, err, fail, load_settings, out, print_json, require_server

notify_app = typer.Typer(help="Notifications of failed or crashed runs (notify.webhook_url).",
                         no_args_is_help=True)


def setup_notifications(settings: Any, deployments: list[Any]) -> Any:
    """Keep the Prefect automation that posts failed or crashed runs of ``deployments`` to
    ``notify.webhook_url`` (or delete it when none is set); say what it did on standard error.
    An error (the server refused the message templates ...) exits with a usage error."""
    from flows.notify import ensure_failure_automation, served_names

    n = settings.notify
    try:
        done = ensure_failure_automation(settings, served_names(deployments))
    except Exception as exc:
        fail(f"could not set up [notify] (automation {n.automation!r}, block {n.block!r}): {type(exc).__name__}: {exc}")
    if done.automation_id:
        err.print(f"failed or crashed runs are posted to notify.webhook_url (automation {n.automation!r}, "
                  f"{'created' if done.created else 'updated'})", highlight=False)
    elif done.removed:
        err.print(f"no notify.webhook_url: automation {n.automation!r} removed", highlight=False)
    return done


@notify_app.command("setup")
def setup(as_json: bool = typer.Option(False, "--json", help="Print what was set up as JSON.")) -> None:
    """Create or update the automation and webhook block now (footage serve does it when it starts)."""
    require_server()
    from flows.deployments import build_deployments

    settings = load_settings()
    done = setup_notifications(settings, build_deployments(settings))
    doc = {"automation": settings.notify.automation,
           "automation_id": str(done.automation_id) if done.automation_id else None,
           "block": settings.notify.block, "block_id": str(done.block_id) if done.block_id else None,
           "created": done.created,
           "removed": done.removed, "deployments": list(done.deployments)}
    if as_json:
        print_json(doc)
    elif done.automation_id is None:
        out.print("no notify.webhook_url: no notifications", highlight=False)
    else:
        out.print(f"automation {doc['automation']} ({doc['automation_id']}) watches {', '.join(doc['deployments'])}",
                  highlight=False)


@notify_app.command("test")
def test(message: str = typer.Option("Footage: test notification, nothing failed.", "--message", "-m",
                                     help="The text to send.")) -> None:
    """Post a test message to notify.webhook_url from this machine (exit 1 when it is refused).

    It is formatted as the real ones, which the Prefect server sends, from its own machine."""
    from flows.notify import send_test

    settings = load_settings()
    if settings.notify.webhook_url is None:
        fail("no notify.webhook_url is configured")
    try:
        send_test(settings, message)
    except Exception as exc:
        fail(f"the webhook did not take the message: {type(exc).__name__}: {exc}", PROBLEM_EXIT)
    out.print("sent", highlight=False)
