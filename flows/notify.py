"""Operators hear of a failed night without opening the UI: a Prefect automation on the server.

:func:`ensure_failure_automation` keeps, from ``[notify]`` (records/settings.py), two things on
the Prefect server, idempotently (``footage serve`` calls it each time it starts, ``footage
notify setup`` on demand):

* a **Custom Webhook** notification block named ``notify.block`` that posts ``notify.payload``
  (JSON) to ``notify.webhook_url``; the URL is kept among the block's secrets (the UI shows it
  obfuscated);
* an **automation** named ``notify.automation``: an :class:`EventTrigger` on every flow-run
  state event whose state type is FAILED or CRASHED (``prefect.flow-run.Failed``,
  ``.Crashed``, ``.TimedOut`` ...) of a run of one of the served deployments, matched by the
  names of its flow and deployment (the related resources of the event), and a
  :class:`SendNotification` action through that block.

Prefect's server renders the message (``notify.subject``, ``notify.body``: Jinja with
``flow_run``, ``flow``, ``deployment``, ``event``; Footage adds ``run_url``, the run's page in
the UI) and sends it: its ``triggers`` service, on by default in ``prefect server start``
(``PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED``), evaluates automations and runs their actions,
within a second or so of the state (tests/ops/test_notify.py). The webhook must be reachable from
the server's machine. A run whose ``footage serve`` dies with it is marked Crashed by nobody and
sends nothing (docs/operations.md).

Without ``notify.webhook_url`` the automation of that name is deleted (the block is left, it
sends nothing by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from uuid import UUID

from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_UI_URL

from records.settings import Settings

#: the secret of the block that holds the webhook URL (the block's ``url`` is ``{{url}}``)
URL_SECRET = "url"
#: the states that notify: a flow run's state *type*; the event name is the state's name
#: (``Failed``, ``Crashed``, ``TimedOut`` ...)
STATE_TYPES = ["FAILED", "CRASHED"]


@dataclass(frozen=True)
class Notifying:
    """What :func:`ensure_failure_automation` left on the server."""

    automation_id: UUID | None  # None: no webhook_url, no automation
    block_id: UUID | None
    created: bool  # the automation was created now (not updated)
    removed: int  # automations of that name removed (duplicates, or all without a URL)
    deployments: tuple[str, ...]  # FLOW/DEPLOYMENT names it watches


def served_names(deployments: Iterable[object]) -> list[str]:
    """``FLOW/DEPLOYMENT`` of each deployment that ``footage serve`` runs (RunnerDeployments)."""
    return [f"{d.flow_name}/{d.name}" for d in deployments]  # type: ignore[attr-defined]


def run_url_prefix() -> str | None:
    """The start of a flow run's page in the Prefect UI (``PREFECT_UI_URL``, by default the
    API URL without ``/api``), or None when unknown."""
    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/runs/flow-run/" if ui else None


def message_template(template: str, url_prefix: str | None) -> str:
    """``template`` with ``run_url`` defined in front (Jinja ``set``) when it uses it: the run's
    page in the UI, else its id."""
    if "run_url" not in template:
        return template
    if url_prefix:
        define = '{%- set run_url = "' + url_prefix.replace('"', "%22") + '" ~ flow_run.id -%}'
    else:
        define = '{%- set run_url = "flow run id " ~ flow_run.id -%}'
    return define + template


def webhook_block(settings: Settings) -> CustomWebhookNotificationBlock:
    n = settings.notify
    assert n.webhook_url is not None
    return CustomWebhookNotificationBlock(
        name=n.block, url="{{" + URL_SECRET + "}}", method="POST", json_data=n.payload,
        secrets={URL_SECRET: n.webhook_url},
    )


def failure_automation(settings: Settings, deployments: list[str], block_id: UUID) -> AutomationCore:
    """The automation (not saved): failed or crashed runs of ``deployments`` (``FLOW/NAME``)."""
    n = settings.notify
    flows = sorted({d.split("/", 1)[0] for d in deployments})
    names = sorted({d.split("/", 1)[1] for d in deployments})
    prefix = run_url_prefix()
    return AutomationCore(
        name=n.automation,
        description=("Footage (footage serve): a failed or crashed run of " + ", ".join(sorted(deployments))
                     + f" is posted to the webhook of block {n.block!r}. Kept by footage serve from [notify]: "
                     "edit footage.toml, not this automation."),
        enabled=True,
        tags=["footage"],
        trigger=EventTrigger(
            posture=Posture.Reactive,
            expect={"prefect.flow-run.*"},
            match={"prefect.resource.id": "prefect.flow-run.*", "prefect.state-type": STATE_TYPES},
            # both must be among the event's related resources: the run's flow and its deployment
            match_related=[
                {"prefect.resource.role": "flow", "prefect.resource.name": flows},
                {"prefect.resource.role": "deployment", "prefect.resource.name": names},
            ],
            for_each={"prefect.resource.id"},  # each run on its own
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=message_template(n.subject, prefix),
                                  body=message_template(n.body, prefix))],
    )


def ensure_failure_automation(settings: Settings, deployments: list[str]) -> Notifying:
    """Create or update the webhook block and the automation (one of that name: duplicates, from
    two serves started at once, are removed); without ``notify.webhook_url``, delete the
    automation. Needs a Prefect server (``PREFECT_API_URL``)."""
    n = settings.notify
    check_templates(settings)
    block_id = webhook_block(settings).save(n.block, overwrite=True) if n.webhook_url else None
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(n.automation)  # newest first
        if block_id is None:
            for a in existing:
                client.delete_automation(a.id)
            return Notifying(None, None, False, len(existing), tuple(deployments))
        wanted = failure_automation(settings, deployments, block_id)
        if existing:
            keep, *extra = existing
            automation_id = keep.id
            client.update_automation(automation_id, wanted)
            for a in extra:
                client.delete_automation(a.id)
        else:
            extra = []
            automation_id = client.create_automation(wanted)
        saved = client.read_automation(automation_id)
    # the server answers a PUT whose action it cannot read with 200 and keeps another action type
    # (Prefect 3.9): check what it kept
    if saved is None or [a.type for a in saved.actions] != ["send-notification"]:
        raise RuntimeError(f"the Prefect server did not keep the automation's notification: {saved!r}")
    return Notifying(automation_id, block_id, not existing, len(extra), tuple(deployments))


def check_templates(settings: Settings) -> None:
    """Raise ValueError unless ``notify.subject`` and ``notify.body`` are templates that Prefect's
    server accepts (its own check, made here because it does not refuse all of them)."""
    from prefect.server.utilities.user_templates import validate_user_template  # jinja2 only

    for key in ("subject", "body"):
        try:
            validate_user_template(message_template(getattr(settings.notify, key), "http://x/"))
        except Exception as exc:
            raise ValueError(f"notify.{key} is not a valid message template: {exc}") from None


def send_test(settings: Settings, text: str) -> None:
    """Post ``text`` to ``notify.webhook_url`` as the block would, from this machine (the real
    notifications are sent by the Prefect server, from its machine). Raises on an HTTP error."""
    webhook_block(settings).notify(body=text, subject="Footage: test notification")
