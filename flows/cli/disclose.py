"""``footage disclose request|select|approve|reject|override|status``: the headless driver of the
disclosure flow (:mod:`flows.disclose`) and its commands.

The flow pauses for typed input (:class:`~flows.disclose.Selection`,
:class:`~flows.disclose.Decision`, :class:`~flows.disclose.QAOverride`); the driver finds the
run, checks what it waits for, and resumes it with the input, the same input the Prefect UI's
form submits. The flow, not this driver, decides whether the acting user may: a refused input is
noted in the record's history and the flow waits again. Every step needs a Prefect server that
both the flow and the CLI reach (PREFECT_API_URL).

Prefect's client, :mod:`flows.disclose` and :mod:`media.redact` (onnxruntime, SciPy) are
imported inside the functions that need them: importing them takes seconds that
``footage --help`` and every other command would pay.
"""

from __future__ import annotations

import contextvars
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from flows.cli.common import as_option, context, fail, load_settings, out, print_json, require_server
from flows.cli.redact import parse_keep
from records.keys import disclosure_prefix, safe_part
from records.roles import acting_user


class DisclosureError(RuntimeError):
    """The run is not where the step expects it, or Prefect refused the input."""


# --- the driver (the CLI and tests) ---------------------------------------------------------------


def _client():
    from prefect.client.orchestration import get_client  # Prefect, see the module docstring

    return get_client(sync_client=True)


def find_run(name: str, timeout: float = 120.0, paused: bool = True):
    """The flow run called ``name``, once it exists (and, with ``paused``, once it waits for input)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName  # Prefect, see above

    deadline = time.monotonic() + timeout
    with _client() as client:
        while True:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            if runs and (not paused or (runs[0].state and (runs[0].state.is_paused() or runs[0].state.is_final()))):
                return runs[0]
            if time.monotonic() > deadline:
                raise DisclosureError(f"flow run {name} did not reach a pause within {timeout:.0f} s")
            time.sleep(1)


def request(
    record: str, requester: str, reason: str, user: str, file: str | None = None,
    detection: dict[str, Any] | None = None, background: bool = True, wait: float = 600.0,
) -> dict[str, Any]:
    """Start a disclosure and return once it waits for the archivist's selection.

    ``background`` runs the flow in a detached process (the CLI), else in a thread of this one
    (tests). Either way it needs a Prefect server (PREFECT_API_URL) that both sides reach.
    """
    from prefect.settings import PREFECT_API_URL  # Prefect, see the module docstring

    from flows.disclose import run_named

    name = f"disclose-{safe_part(record[:12])}-{uuid.uuid4().hex[:8]}"
    params = {"record": record, "requester": requester, "reason": reason, "archivist": user, "file": file,
              "detection": detection, "via": "cli"}
    if background:
        logs = load_settings().home / "disclosures"
        logs.mkdir(parents=True, exist_ok=True)
        # The child must reach the same server, also when its URL came from a profile.
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
        with open(logs / f"{name}.log", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "flows.disclose", name, json.dumps(params)], stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        thread = None
    else:
        # Prefect's settings (the server's URL under a test harness) live in context variables.
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(run_named, name, params), daemon=True)
        thread.start()
    run = find_run(name, timeout=wait)
    return {"run": str(run.id), "name": name, "state": run.state.name if run.state else None,
            "awaiting": awaiting(run), "thread": thread}


def pause_key(run) -> str | None:
    """The key of the pause a run waits in (``select-1``, ``approve-2``, ``qa-override``), or None."""
    if run.state is None or not run.state.is_paused():
        return None
    return run.state.state_details.pause_key or ""


def awaiting(run) -> str | None:
    """What a paused run waits for: ``select``, ``approve`` or ``qa-override``."""
    key = pause_key(run)
    if key is None:
        return None
    return key.rsplit("-", 1)[0] if key[-1:].isdigit() else key


def _read(run_id: str):
    with _client() as client:
        return client.read_flow_run(uuid.UUID(run_id))


def _submit(run_id: str, step: str, model: str, **data: Any) -> str:
    """Resume the run waiting for ``step`` with a ``model`` input (a RunInput class of
    :mod:`flows.disclose`) made of ``data``; returns the pause key it answered."""
    from prefect.flow_runs import resume_flow_run  # Prefect, see the module docstring

    from flows import disclose as flow

    run = _read(run_id)
    now = awaiting(run)
    if now != step:
        raise DisclosureError(f"run {run_id} is {run.state.name if run.state else 'unknown'}"
                              + (f", waiting for {now}" if now else "") + f", not for {step}")
    run_input = getattr(flow, model)(**data, via="cli")
    try:
        resume_flow_run(run.id, run_input=run_input.model_dump(mode="json"))
    except Exception as exc:  # the server validates the input against the pause's schema
        raise DisclosureError(f"Prefect refused the input: {exc}") from exc
    return pause_key(run)


def select(run_id: str, user: str, keep: list[int], masks=(), audio=(), style: str = "solid",
           comment: str = "") -> str:
    """The archivist's keep-list, manual masks and audio ranges."""
    return _submit(run_id, "select", "Selection", user=user, keep=keep, masks=list(masks), audio=list(audio),
                   style=style, comment=comment)


def decide(run_id: str, user: str, approve: bool, comment: str = "") -> str:
    """A supervisor's approval or rejection."""
    return _submit(run_id, "approve", "Decision", user=user, approve=approve, comment=comment)


def override(run_id: str, user: str, release: bool, reason: str) -> str:
    """An archivist's written decision after QA found faces: release anyway, or keep it blocked."""
    return _submit(run_id, "qa-override", "QAOverride", user=user, release=release, reason=reason)


def status(run_id: str) -> dict[str, Any]:
    """Where a run stands: state, what it waits for, its parameters and, once closed, its receipt."""
    run = _read(run_id)
    doc = {"run": str(run.id), "name": run.name, "state": run.state.name if run.state else None,
           "awaiting": awaiting(run), "pause_key": pause_key(run),
           "parameters": {k: v for k, v in run.parameters.items() if k != "detection"}}
    _, store, _ = context(None)
    key = disclosure_prefix(run.parameters.get("record"), str(run.id)) + "receipt.json"
    if store.exists(key):
        doc["receipt"] = json.loads(store.get_bytes(key))
    return doc


def wait_next(run_id: str, after: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Block until the run has finished, or waits in a pause other than the one keyed ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _read(run_id)
        if run.state and (run.state.is_final() or (run.state.is_paused() and pause_key(run) != after)):
            return status(run_id)
        time.sleep(1)
    raise DisclosureError(f"run {run_id} still running after {timeout:.0f} s")


# --- the commands ---------------------------------------------------------------------------------

disclose_app = typer.Typer(no_args_is_help=True, help="Release a party's copy of a record (Article 31).")


def _guard(step: Callable[..., Any], *args: Any) -> Any:
    """Run one driver step; a refusal is a clear error, not a traceback."""
    try:
        return step(*args)
    except DisclosureError as exc:
        fail(str(exc))


def _show(doc: dict[str, Any], as_json: bool) -> None:
    doc = {k: v for k, v in doc.items() if k != "thread"}
    if as_json:
        print_json(doc)
    else:
        out.print_json(json.dumps(doc, ensure_ascii=False, default=str))


def _answer(run: str, submit: Callable[..., str], *args: Any, wait: float = 600.0) -> dict[str, Any]:
    """Submit one input, then wait for the run's next pause or its end."""
    require_server()
    key = _guard(submit, run, *args)
    return _guard(wait_next, run, key, wait)


@disclose_app.command("request")
def disclose_request(
    record: str = typer.Option(..., "--record", help="Record id (SHA-256 of the original)."),
    requester: str = typer.Option(..., "--requester", help="Who asked for the copy (the party)."),
    reason: str = typer.Option(..., "--reason", help="Why the copy is asked for."),
    file: Optional[Path] = typer.Option(None, "--file", exists=True, dir_okay=False,
                                        help="A local copy of the original (checked against the record id)."),
    as_user: Optional[str] = as_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start a disclosure; returns when the contact sheet is ready and the flow waits for 'select'."""
    require_server()
    _show(_guard(request, record, requester, reason, acting_user(as_user), str(file) if file else None), as_json)


@disclose_app.command("select")
def disclose_select(
    run: str = typer.Argument(..., help="Flow run id from 'footage disclose request'."),
    keep: Optional[str] = typer.Option(None, "--keep", help="Track ids to leave visible, e.g. 3,7."),
    spec: Optional[Path] = typer.Option(None, "--spec", exists=True, dir_okay=False,
                                        help="Redaction spec JSON (masks, audio, style, keep)."),
    comment: str = typer.Option("", "--comment"),
    as_user: Optional[str] = as_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The archivist's keep-list and manual masks."""
    from media.redact import load_spec  # onnxruntime, see the module docstring

    s = load_spec(spec, parse_keep(keep))
    _show(_answer(run, select, acting_user(as_user), s.keep, [m.model_dump(mode="json") for m in s.masks],
                  [a.model_dump(mode="json") for a in s.audio], s.style, comment), as_json)


@disclose_app.command("approve")
def disclose_approve(run: str = typer.Argument(...), comment: str = typer.Option("", "--comment"),
                     as_user: Optional[str] = as_option(), as_json: bool = typer.Option(False, "--json")) -> None:
    """A supervisor (not the archivist) approves; the flow renders, checks, watermarks, stores."""
    _show(_answer(run, decide, acting_user(as_user), True, comment, wait=3600), as_json)


@disclose_app.command("reject")
def disclose_reject(run: str = typer.Argument(...), comment: str = typer.Option(..., "--comment"),
                    as_user: Optional[str] = as_option(), as_json: bool = typer.Option(False, "--json")) -> None:
    """A supervisor rejects, with a comment; nothing is released."""
    _show(_answer(run, decide, acting_user(as_user), False, comment, wait=3600), as_json)


@disclose_app.command("override")
def disclose_override(run: str = typer.Argument(...),
                      reason: str = typer.Option("", "--reason", help="Written reason to release anyway."),
                      block: bool = typer.Option(False, "--block", help="Keep the release blocked."),
                      as_user: Optional[str] = as_option(), as_json: bool = typer.Option(False, "--json")) -> None:
    """After QA found faces: release anyway with a written reason (archivist), or --block."""
    _show(_answer(run, override, acting_user(as_user), not block, reason, wait=3600), as_json)


@disclose_app.command("status")
def disclose_status(run: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """State of a disclosure run: what it waits for, and its receipt once closed."""
    require_server()
    _show(_guard(status, run), as_json)
