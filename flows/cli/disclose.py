"""``footage disclose request|select|approve|reject|override|status|verify``: the headless driver of the
disclosure flow (:mod:`flows.disclose`) and its commands.

``request`` starts the deployment ``disclose/disclosure`` (served by ``footage serve``) with
``run_deployment`` and returns once the run waits for the archivist's selection. The run then
waits suspended for typed input (:class:`~flows.disclose.Selection`,
:class:`~flows.disclose.Decision`, :class:`~flows.disclose.QAOverride`); the driver finds the
run, checks what it waits for, and resumes it with the input, the same input the Prefect UI's
form submits. Prefect reschedules the run and ``footage serve`` runs it on. The flow, not this
driver, decides whether the acting user may: a refused input is noted in the record's history
and the flow waits again. :func:`diagnose` says what is wrong with a run that does not move (no
``footage serve`` picking it up, a wait past its limit, a failure); ``footage disclose status``
and ``footage status`` show it. Every step needs a Prefect server (PREFECT_API_URL).

Prefect's client, :mod:`flows.disclose` and :mod:`media.redact` (onnxruntime, SciPy) are
imported inside the functions that need them: importing them takes seconds that
``footage --help`` and every other command would pay.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from flows.cli.common import (DENIED_EXIT, PROBLEM_EXIT, as_option, context, err, fail, key_option, load_settings, out,
                              print_json, require_server)
from flows.cli.redact import parse_keep
from records.keys import disclosure_prefix, safe_part
from records.roles import acting_user

FLOW_NAME, DEPLOYMENT = "disclose", "disclose/disclosure"  # as in flows.disclose (not imported: slow)
SERVE_HINT = ("start `footage serve` (same configuration, same PREFECT_API_URL): the run goes on from where it "
              "stopped")


class DisclosureError(RuntimeError):
    """The run is not where the step expects it, or Prefect refused the input."""

    code = 2  # a usage error (docs/cli.md)


class InputRefused(DisclosureError):
    """The input cannot be signed, its signature does not verify, or the flow refused it."""

    code = DENIED_EXIT


class StuckRun(DisclosureError):
    """The input was taken or the run created, but nothing runs it on (no ``footage serve``)."""

    code = PROBLEM_EXIT


# --- the driver (the CLI and tests) ---------------------------------------------------------------


def _client():
    from prefect.client.orchestration import get_client  # Prefect, see the module docstring

    return get_client(sync_client=True)


def _deployment(client):
    """The disclosure deployment, or None when no ``footage serve`` ever registered it."""
    from prefect.exceptions import ObjectNotFound  # Prefect, see the module docstring

    try:
        return client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound:
        return None


def _age(when: datetime | None, now: datetime) -> float | None:
    return None if when is None else (now - when).total_seconds()


def serving_problem(client, grace: float) -> str | None:
    """Why no ``footage serve`` would pick up a disclosure run now, or None when one polls."""
    dep = _deployment(client)
    if dep is None:
        return f"no deployment {DEPLOYMENT} on this Prefect server: {SERVE_HINT}"
    age = _age(dep.last_polled, datetime.now(timezone.utc))
    if age is None or age > grace:
        since = "never" if age is None else f"{age:.0f} s ago"
        return f"no `footage serve` is serving {DEPLOYMENT} (last seen {since}): {SERVE_HINT}"
    return None


def diagnose(run, client, grace: float) -> str | None:
    """What is wrong with a disclosure run that does not move on, or None.

    A run resumed (state Scheduled, "Resuming") that no ``footage serve`` picked up within
    ``grace`` seconds; a wait past its limit; a failed or crashed run.
    """
    from flows.disclose import EXPIRED, overdue  # see the module docstring

    state = run.state
    if state is None:
        return None
    now = datetime.now(timezone.utc)
    if state.is_scheduled() or state.is_pending():
        age = _age(state.state_details.scheduled_time or state.timestamp, now) or 0.0
        if age <= grace:
            return None
        what = "resumed" if state.name in ("Resuming", "Late") or run.run_count else "started"
        why = serving_problem(client, grace)
        if why is None and age > 10 * grace:  # a footage serve polls, yet leaves this run alone
            why = "a `footage serve` polls but has not run it (at its limit of concurrent runs? see its log)"
        return f"{what} {age:.0f} s ago and not picked up: {why}" if why else None
    if overdue(run, now):
        return "waited longer than disclosure.pause_timeout_hours: expired, nothing released"
    if state.name == EXPIRED:
        return None  # closed, audited: not a problem any more
    if state.is_failed() or state.is_crashed():
        return f"{state.name}: {state.message or 'see the run in the Prefect UI'}"
    return None


def find_run(run_id: str, timeout: float = 120.0, grace: float | None = None):
    """The run once it waits for input or has ended; raises with :func:`diagnose`'s reason when stuck."""
    grace = load_settings().disclosure.pickup_grace_s if grace is None else grace
    deadline = time.monotonic() + timeout
    with _client() as client:
        while True:
            run = client.read_flow_run(uuid.UUID(run_id))
            if run.state and (run.state.is_paused() or run.state.is_final()):
                return run
            problem = diagnose(run, client, grace)
            if problem:
                raise StuckRun(f"run {run_id}: {problem}")
            if time.monotonic() > deadline:
                raise DisclosureError(f"run {run_id} did not reach a pause within {timeout:.0f} s "
                                      f"(state {run.state.name if run.state else 'unknown'})")
            time.sleep(1)


def _signed(user: str, action: str, record: str, run_id: str | None, pause_key: str | None,
            content: dict[str, Any], key_path: str | None) -> dict[str, str]:
    """``signed_at`` and ``signature`` for an input (nothing in single-user mode), checked here
    first so that a wrong key is refused at once (exit 3, audited) rather than by the flow."""
    from records.identity import signed_fields, verify_input
    from records.roles import Refused

    settings, store, _ = context(None)
    try:
        fields = signed_fields(settings, key_path=key_path, user=user, action=action, record=record,
                               run_id=run_id, pause_key=pause_key, content=content)
    except Refused as exc:  # no key: verified unsigned below, so that the refusal is audited too
        fields, why = {}, str(exc)
    else:
        why = None
    try:
        verify_input(settings, store, user=user, action=action, record=record, run_id=run_id, pause_key=pause_key,
                     content=content, signed_at=fields.get("signed_at"), signature=fields.get("signature"),
                     via="cli")
    except Refused as exc:
        raise InputRefused(str(exc) + (f": {why}" if why else "")) from None
    return {k: fields[k] for k in ("signed_at", "signature") if k in fields}


def request(
    record: str, requester: str, reason: str, user: str, file: str | None = None,
    detection: dict[str, Any] | None = None, wait: float = 600.0, key_path: str | None = None,
) -> dict[str, Any]:
    """Start a disclosure (the deployment, served by ``footage serve``) and return once it waits
    for the archivist's selection.

    The run is created even when no ``footage serve`` polls right now (it starts when one does);
    then the document says so under ``problem`` instead of waiting.
    """
    from prefect.deployments import run_deployment  # Prefect, see the module docstring

    from flows.disclose import request_content

    settings = load_settings()
    name = f"disclose-{safe_part(record[:12])}-{uuid.uuid4().hex[:8]}"
    params = {"record": record, "requester": requester, "reason": reason, "archivist": user, "file": file,
              "detection": detection, "via": "cli",
              **_signed(user, "disclose.request", record, None, None,
                        request_content(record, requester, reason, file, detection, None), key_path)}
    with _client() as client:
        if _deployment(client) is None:
            raise DisclosureError(f"no deployment {DEPLOYMENT} on this Prefect server: start `footage serve` first")
        problem = serving_problem(client, settings.disclosure.pickup_grace_s)
    run = run_deployment(DEPLOYMENT, parameters=params, flow_run_name=name, timeout=0)
    if problem:
        return {"run": str(run.id), "name": name, "state": run.state.name if run.state else None,
                "awaiting": None, "problem": problem}
    run = find_run(str(run.id), timeout=wait)
    return {"run": str(run.id), "name": name, "state": run.state.name if run.state else None,
            "awaiting": awaiting(run)}


def pause_key(run) -> str | None:
    """The key of the pause a run waits in (``select-1``, ``approve-2``, ``qa-override-1``), or None."""
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
    try:
        uid = uuid.UUID(run_id)
    except ValueError:
        raise DisclosureError(f"{run_id!r} is not a flow run id (from 'footage disclose request')") from None
    with _client() as client:
        return client.read_flow_run(uid)


def _submit(run_id: str, step: str, model: str, key_path: str | None = None, **data: Any) -> str:
    """Resume the run waiting for ``step`` with a ``model`` input (a RunInput class of
    :mod:`flows.disclose`) made of ``data``, signed with ``key_path`` (multi-user mode) over
    the run, its pause key and the input's content; returns the pause key it answered."""
    from prefect.flow_runs import resume_flow_run  # Prefect, see the module docstring

    from flows import disclose as flow

    run = _read(run_id)
    if flow.overdue(run):
        with _client() as client:
            flow.expire_run(load_settings(), run, client)
        raise DisclosureError(f"run {run_id} waited longer than disclosure.pause_timeout_hours: it has expired, "
                              "nothing was released; start a new request")
    now = awaiting(run)
    if now != step:
        raise DisclosureError(f"run {run_id} is {run.state.name if run.state else 'unknown'}"
                              + (f", waiting for {now}" if now else "") + f", not for {step}")
    draft = getattr(flow, model)(**data, via="cli")
    key = pause_key(run)
    sig = _signed(data["user"], flow.ACTIONS[step], run.parameters.get("record"), str(run.id), key,
                  flow.input_content(draft), key_path)
    run_input = getattr(flow, model)(**data, via="cli", **sig)
    try:
        resume_flow_run(run.id, run_input=run_input.model_dump(mode="json"))
    except Exception as exc:  # the server validates the input against the pause's schema
        raise DisclosureError(f"Prefect refused the input: {exc}") from exc
    return pause_key(run)


def select(run_id: str, user: str, keep: list[int], masks=(), audio=(), style: str = "solid",
           comment: str = "", key_path: str | None = None) -> str:
    """The archivist's keep-list, manual masks and audio ranges."""
    return _submit(run_id, "select", "Selection", key_path, user=user, keep=keep, masks=list(masks),
                   audio=list(audio), style=style, comment=comment)


def decide(run_id: str, user: str, approve: bool, comment: str = "", key_path: str | None = None) -> str:
    """A supervisor's approval or rejection."""
    return _submit(run_id, "approve", "Decision", key_path, user=user, approve=approve, comment=comment)


def override(run_id: str, user: str, release: bool, reason: str, key_path: str | None = None) -> str:
    """An archivist's written decision after QA found faces: release anyway, or keep it blocked."""
    return _submit(run_id, "qa-override", "QAOverride", key_path, user=user, release=release, reason=reason)


def refusal(run_id: str, record: str, key: str) -> str | None:
    """Why the flow refused the input it waited for under pause ``key`` (its
    ``disclosure_input_refused`` event), or None."""
    from records.history import events_of_kind

    _, store, _ = context(None)
    for e in events_of_kind(store, record, "disclosure_input_refused"):
        d = e.get("detail") or {}
        if d.get("run") == run_id and d.get("pause_key") == key:
            return d.get("why")
    return None


def status(run_id: str) -> dict[str, Any]:
    """Where a run stands: state, what it waits for, what is wrong (``problem``), its parameters
    and, once closed, its receipt. A run that waited past its limit is expired here (audited)."""
    from flows.disclose import expire_run, overdue  # see the module docstring
    from records.disclosure import Receipt

    settings, store, _ = context(None)
    run = _read(run_id)
    with _client() as client:
        if overdue(run):
            expire_run(settings, run, client)
            run = client.read_flow_run(run.id)
        problem = diagnose(run, client, settings.disclosure.pickup_grace_s)
    doc = {"run": str(run.id), "name": run.name, "state": run.state.name if run.state else None,
           "awaiting": awaiting(run), "pause_key": pause_key(run), "problem": problem,
           "parameters": {k: v for k, v in run.parameters.items() if k != "detection"}}
    if run.state and run.state.is_paused() and run.state.state_details.pause_timeout:
        doc["expires"] = run.state.state_details.pause_timeout.isoformat()
    key = disclosure_prefix(run.parameters.get("record"), str(run.id)) + "receipt.json"
    if store.exists(key):
        doc["receipt"] = Receipt.from_json(store.get_bytes(key)).to_json_dict()
    return doc


def stuck_disclosures(limit: int = 50) -> list[dict[str, Any]]:
    """Open or failed disclosure runs that something is wrong with (``footage status`` lists them)."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName  # see the module docstring
    from prefect.client.schemas.sorting import FlowRunSort

    grace = load_settings().disclosure.pickup_grace_s
    found = []
    with _client() as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                                     sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        for run in runs:
            problem = diagnose(run, client, grace)
            if problem:
                found.append({"run": run.name, "id": str(run.id), "state": run.state.name if run.state else "",
                              "record": (run.parameters or {}).get("record"), "problem": problem})
    return found


def wait_next(run_id: str, after: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Block until the run has finished, or waits in a pause other than the one keyed ``after``.

    Raises :class:`DisclosureError` with the reason when the run is stuck (no ``footage serve``
    picks it up): the input was taken, and the run goes on once one does.
    """
    grace = load_settings().disclosure.pickup_grace_s
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _read(run_id)
        if run.state and (run.state.is_final() or (run.state.is_paused() and pause_key(run) != after)):
            return status(run_id)
        with _client() as client:
            problem = diagnose(run, client, grace)
        if problem:
            raise StuckRun(f"input taken, but run {run_id} {problem}")
        time.sleep(1)
    raise DisclosureError(f"run {run_id} still running after {timeout:.0f} s")


# --- the commands ---------------------------------------------------------------------------------

disclose_app = typer.Typer(no_args_is_help=True, help="Release a party's copy of a record (Article 31).")


def _guard(step: Callable[..., Any], *args: Any) -> Any:
    """Run one driver step; a refusal is a clear error, not a traceback."""
    try:
        return step(*args)
    except DisclosureError as exc:
        fail(str(exc), exc.code)


def _show(doc: dict[str, Any], as_json: bool) -> None:
    """Print the document; a ``problem`` in it is also said on standard error, and exits 1."""
    if as_json:
        print_json(doc)
    else:
        out.print_json(json.dumps(doc, ensure_ascii=False, default=str))
    if doc.get("problem"):
        err.print(f"[yellow]problem:[/] {doc['problem']}", highlight=False)
        raise typer.Exit(PROBLEM_EXIT)


def _answer(run: str, submit: Callable[..., str], *args: Any, wait: float = 600.0) -> dict[str, Any]:
    """Submit one input, then wait for the run's next pause or its end; a refused input exits 3."""
    require_server()
    key = _guard(submit, run, *args)
    doc = _guard(wait_next, run, key, wait)
    if key and doc.get("awaiting") and key.startswith(doc["awaiting"] + "-"):  # waits again for the same step
        why = refusal(doc["run"], doc["parameters"].get("record"), key)
        fail(f"the disclosure flow refused this input: {why or 'see footage audit show'}; it waits again "
             f"({doc['pause_key']})", DENIED_EXIT)
    return doc


@disclose_app.command("request")
def disclose_request(
    record: str = typer.Option(..., "--record", help="Record id (SHA-256 of the original)."),
    requester: str = typer.Option(..., "--requester", help="Who asked for the copy (the party)."),
    reason: str = typer.Option(..., "--reason", help="Why the copy is asked for."),
    file: Optional[Path] = typer.Option(None, "--file", exists=True, dir_okay=False,
                                        help="A local copy of the original (checked against the record id)."),
    as_user: Optional[str] = as_option(),
    key_path: Optional[str] = key_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start a disclosure (served by `footage serve`); returns when the contact sheet is ready and
    the flow waits for 'select'."""
    require_server()
    _show(_guard(lambda: request(record, requester, reason, acting_user(as_user), str(file.resolve()) if file else None,
                                 key_path=key_path)), as_json)


@disclose_app.command("select")
def disclose_select(
    run: str = typer.Argument(..., help="Flow run id from 'footage disclose request'."),
    keep: Optional[str] = typer.Option(None, "--keep", help="Track ids to leave visible, e.g. 3,7."),
    spec: Optional[Path] = typer.Option(None, "--spec", exists=True, dir_okay=False,
                                        help="Redaction spec JSON (masks, audio, style, keep)."),
    comment: str = typer.Option("", "--comment"),
    as_user: Optional[str] = as_option(),
    key_path: Optional[str] = key_option(),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The archivist's keep-list and manual masks, signed with --key in multi-user mode."""
    from media.redact import load_spec  # onnxruntime, see the module docstring

    s = load_spec(spec, parse_keep(keep))
    _show(_answer(run, select, acting_user(as_user), s.keep, [m.model_dump(mode="json") for m in s.masks],
                  [a.model_dump(mode="json") for a in s.audio], s.style, comment, key_path), as_json)


@disclose_app.command("approve")
def disclose_approve(run: str = typer.Argument(...), comment: str = typer.Option("", "--comment"),
                     as_user: Optional[str] = as_option(), key_path: Optional[str] = key_option(),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """A supervisor (not the archivist who requested or selected) approves; the flow renders,
    checks, watermarks, stores."""
    _show(_answer(run, decide, acting_user(as_user), True, comment, key_path, wait=3600), as_json)


@disclose_app.command("reject")
def disclose_reject(run: str = typer.Argument(...), comment: str = typer.Option(..., "--comment"),
                    as_user: Optional[str] = as_option(), key_path: Optional[str] = key_option(),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """A supervisor rejects, with a comment; nothing is released."""
    _show(_answer(run, decide, acting_user(as_user), False, comment, key_path, wait=3600), as_json)


@disclose_app.command("override")
def disclose_override(run: str = typer.Argument(...),
                      reason: str = typer.Option("", "--reason", help="Written reason to release anyway."),
                      block: bool = typer.Option(False, "--block", help="Keep the release blocked."),
                      as_user: Optional[str] = as_option(), key_path: Optional[str] = key_option(),
                      as_json: bool = typer.Option(False, "--json")) -> None:
    """After QA found faces: release anyway with a written reason (archivist), or --block."""
    _show(_answer(run, override, acting_user(as_user), not block, reason, key_path, wait=3600), as_json)


@disclose_app.command("status")
def disclose_status(run: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """State of a disclosure run: what it waits for, what is wrong with it (exit 1: not picked up
    by any `footage serve`, failed), and its receipt once closed. A run that waited past
    disclosure.pause_timeout_hours is expired here (audited)."""
    require_server()
    _show(_guard(status, run), as_json)


@disclose_app.command("verify")
def disclose_verify(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A released copy."),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """Check a released copy: its Content Credentials (signature, binding to every byte, signer
    trusted by c2pa.trust_anchors), and the record, receipt and audit event they name. Exit 0 only
    when all agree; 1 when a byte was changed, the manifest is missing or not ours, or the store
    or the audit log disagree. No Prefect server needed."""
    from records.credentials import verify_release  # c2pa's native library: only here

    settings = load_settings()
    v = verify_release(settings, file)
    if as_json:
        print_json(v.to_json_dict())
    else:
        out.print(f"{file}  sha256 {v.sha256}", highlight=False)
        for c in v.checks:
            mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
            out.print(f"{mark} {c.name}: {c.en}\n       {c.zh}", highlight=False)
        if v.ok:
            out.print(f"[green]verified / 已验证[/]: record {v.record}, disclosure run {v.run}", highlight=False)
        else:
            out.print("[red]NOT verified / 未通过验证[/]", highlight=False)
    if not v.ok:
        raise typer.Exit(PROBLEM_EXIT)
