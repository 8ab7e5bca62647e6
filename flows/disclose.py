"""The disclosure flow: a party's copy of a record, third parties masked, released only with approval.

Article 31 lets a party view or copy the records about them with a supervising leader's approval,
and no third party's information may leak; Article 30: nothing is released without procedure.

Steps (each appended to the record's event history and to the audit log)::

    requested -> tracks + contact sheet (Prefect artifact)
      -> pause: archivist's selection (keep-list, manual masks, audio ranges)      [Selection]
      -> pause: supervisor's approval or rejection, by a different user             [Decision]
      -> render -> QA (residual faces block the release unless an archivist
         overrides with a written reason)                                          [QAOverride]
      -> watermark ("disclosed to NAME on DATE, not for publication", zh + en)
      -> store the copy under its own retention -> receipt

The pauses are Prefect's ``pause_flow_run(wait_for_input=...)``: the UI shows a form, and the
headless CLI (``footage disclose select|approve|reject|override``) submits the same typed input
with ``resume_flow_run(run_id, run_input=...)``. Open-source Prefect has no user identity: each
input names its user (the CLI fills in ``--as`` or the OS user and sets ``via="cli"``; a UI user
types a name, ``via="ui"``) and the receipt says which. The flow, not the CLI, is the authority
on roles: an input from a user without the role is refused (audited) and the flow waits again.
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
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from flows import prefect_env  # noqa: F401  (Prefect defaults before Prefect is imported)

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import Field

from records.settings import Role, Settings, load_settings
from records.history import add_record_event
from records.keys import disclosure_prefix, safe_part
from records.manifest import load_manifest
from records.roles import has_role, roles_of
from records.store import open_store

FLOW_NAME = "disclose"
MAX_REFUSALS = 5  # inputs refused for want of a role before the flow gives up


class Selection(RunInput):
    """The archivist's choice after looking at the contact sheet."""

    user: str = Field(description="Your user name (the archivist making this selection).")
    keep: list[int] = Field(default_factory=list, description="Track ids to leave visible: the requester.")
    masks: list[dict[str, Any]] = Field(
        default_factory=list, description='Manual masks: {"box": [x1, y1, x2, y2], "start": s, "end": s, "reason": ...}'
    )
    audio: list[dict[str, Any]] = Field(
        default_factory=list, description='Audio ranges: {"start": s, "end": s, "mode": "mute" or "bleep"}'
    )
    style: Literal["solid", "mosaic"] = "solid"
    comment: str = ""
    via: Literal["ui", "cli"] = "ui"


class Decision(RunInput):
    """A supervisor's approval or rejection."""

    user: str = Field(description="Your user name (a supervisor, not the archivist).")
    approve: bool = Field(description="Approve the release of this copy?")
    comment: str = ""
    via: Literal["ui", "cli"] = "ui"


class QAOverride(RunInput):
    """An archivist's written decision on a copy in which QA found faces."""

    user: str = Field(description="Your user name (an archivist).")
    release: bool = Field(False, description="Release despite the residual faces?")
    reason: str = Field("", description="Why (required to release).")
    via: Literal["ui", "cli"] = "ui"


# --- events ---------------------------------------------------------------------------------------


def _event(settings: Settings, store, record: str, kind: str, user: str, detail: dict[str, Any]) -> None:
    """Append to the record's history and to the audit log (same kind, prefixed ``disclosure_``)."""
    kind = f"disclosure_{kind}"
    add_record_event(store, record, kind, user=user, detail=detail)
    try:
        from records.audit import open_audit

        open_audit(settings, store).append(kind, user=user, record=record, detail=detail)
    except Exception as exc:  # the record's history above is the primary trail
        get_run_logger().warning("audit log append failed: %s", exc)


def _pause_hours(settings: Settings) -> int:
    return int(settings.disclosure.pause_timeout_hours * 3600)


def _wait(settings: Settings, model, key: str, description: str):
    return pause_flow_run(
        wait_for_input=model.with_initial_data(description=description),
        timeout=_pause_hours(settings),
        poll_interval=settings.disclosure.poll_interval_s,
        key=key,
    )


# --- tasks ----------------------------------------------------------------------------------------


@task(name="fetch-source", cache_policy=NO_CACHE)
def fetch_source(settings: Settings, record: str, file: str | None, workdir: Path) -> Path:
    """The record's original: from the store by its manifest, or a local file whose hash matches."""
    from media.redact import sha256_file

    store = open_store(settings)
    if file is None:
        stored = load_manifest(store, record).stored
        dest = workdir / ("source" + Path(stored.key).suffix)
        store.download(stored.key, dest, version_id=stored.version_id)
        file = str(dest)
    if sha256_file(file) != record:
        raise ValueError(f"{file} is not record {record}: its SHA-256 differs")
    return Path(file)


@task(name="find-tracks", cache_policy=NO_CACHE)
def tracks_task(src: Path, record: str, workdir: Path, detection: dict[str, Any] | None):
    from media.redact import DetectionConfig, contact_sheet, find_tracks

    ts = find_tracks(src, DetectionConfig.model_validate(detection or {}), sha256=record)
    ts.save(workdir / "tracks.json")
    sheet = contact_sheet(ts, workdir / "sheet.png")
    return ts, sheet


@task(name="render", cache_policy=NO_CACHE)
def render_task(src: Path, workdir: Path, spec, tracks):
    from media.redact import redaction_log, render

    result = render(src, workdir / "redacted.mp4", spec, tracks=tracks, source_sha256=tracks.sha256)
    return result, redaction_log(result)


@task(name="qa", cache_policy=NO_CACHE)
def qa_task(path: Path, tracks, keep: list[int], threshold: float):
    from media.redact import QAConfig, qa_pass

    return qa_pass(path, tracks, keep, QAConfig(threshold=threshold))


@task(name="watermark", cache_policy=NO_CACHE)
def watermark_task(path: Path, out: Path, requester: str, day: date, metadata: dict[str, str]) -> Path:
    from media.redact import watermark_video

    return watermark_video(path, out, requester, day, metadata=metadata)


# --- the flow -------------------------------------------------------------------------------------


def _tracks_markdown(ts, sheet: Path) -> str:
    rows = "\n".join(
        f"| {t.id} | {t.first}-{min(t.last, ts.frames - 1)} | {t.first / ts.fps:.1f}-{(min(t.last, ts.frames - 1) + 1) / ts.fps:.1f} s | {t.hits} | {max(t.scores):.2f} |"
        for t in ts.tracks
    )
    return (
        f"# Face tracks / 人脸轨迹\n\n{_inline_image(sheet)}\n\nContact sheet: `{sheet}`\n\n"
        "| track | frames | time | detections | best score |\n|---|---|---|---|---|\n" + rows
    )


def _inline_image(path: Path, width: int = 960) -> str:
    """The sheet as a markdown image with a data URI, so the Prefect UI shows it in the artifact."""
    import base64
    import io

    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, int(im.height * width / im.width)))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=70)
    return f"![contact sheet](data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()})"


@flow(name=FLOW_NAME, log_prints=False)
def disclose_flow(
    record: str,
    requester: str,
    reason: str,
    archivist: str,
    file: str | None = None,
    detection: dict[str, Any] | None = None,
    via: str = "cli",
) -> dict[str, Any]:
    """Prepare, get approved, check and release a party's copy of one record."""
    from prefect.runtime import flow_run as current

    from media.redact import RedactSpec, sha256_file, write_log

    settings = load_settings()
    store = open_store(settings)
    log = get_run_logger()
    run_id = str(current.id)
    workdir = settings.home / "disclosures" / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    receipt: dict[str, Any] = {
        "schema": "footage.disclosure-receipt/1", "run": run_id, "record": record, "requester": requester,
        "reason": reason, "requested_by": {"user": archivist, "via": via}, "status": "open",
    }
    if not has_role(settings, archivist, Role.ARCHIVIST):
        _event(settings, store, record, "refused", archivist, {"run": run_id, "why": "requester lacks archivist role"})
        return {**receipt, "status": "refused"}
    _event(settings, store, record, "requested", archivist,
           {"run": run_id, "requester": requester, "reason": reason, "via": via})

    src = fetch_source(settings, record, file, workdir)
    ts, sheet = tracks_task(src, record, workdir, detection)
    create_markdown_artifact(markdown=_tracks_markdown(ts, sheet), key=f"disclose-{run_id[:8]}-tracks",
                             description="Face tracks: choose who stays visible")

    # 1. the archivist's selection
    selection, spec = None, None
    for attempt in range(1, MAX_REFUSALS + 1):
        got = _wait(settings, Selection, f"select-{attempt}",
                    f"Choose the track ids to keep visible (the requester {requester}); tracks: {ts.ids()}")
        problem = None
        if not has_role(settings, got.user, Role.ARCHIVIST):
            problem = f"{got.user} is not an archivist"
        else:
            try:
                spec = RedactSpec(keep=got.keep, masks=got.masks, audio=got.audio, style=got.style,
                                  detection=ts.config)
                if set(spec.keep) - set(ts.ids()):
                    problem = f"unknown track ids {sorted(set(spec.keep) - set(ts.ids()))}"
            except ValueError as exc:
                problem = f"invalid selection: {exc}"
        if problem is None:
            selection = got
            break
        log.warning("selection refused: %s", problem)
        _event(settings, store, record, "input_refused", got.user, {"run": run_id, "step": "select", "why": problem})
    if selection is None:
        return {**receipt, "status": "abandoned"}
    receipt["selected_by"] = {"user": selection.user, "via": selection.via, "comment": selection.comment}
    _event(settings, store, record, "selected", selection.user,
           {"run": run_id, "keep": spec.keep, "masks": len(spec.masks), "audio": len(spec.audio), "via": selection.via})

    # 2. the supervisor's decision: a different user, with the supervisor role
    decision = None
    for attempt in range(1, MAX_REFUSALS + 1):
        got = _wait(settings, Decision, f"approve-{attempt}",
                    f"Approve the release of record {record[:12]} to {requester}? Selected by {selection.user}.")
        if got.user in (archivist, selection.user):
            problem = f"{got.user} prepared this disclosure and may not approve it"
        elif not has_role(settings, got.user, Role.SUPERVISOR):
            problem = f"{got.user} is not a supervisor (roles: {sorted(r.value for r in roles_of(settings, got.user))})"
        else:
            decision = got
            break
        log.warning("decision refused: %s", problem)
        _event(settings, store, record, "input_refused", got.user, {"run": run_id, "step": "approve", "why": problem})
    if decision is None:
        return {**receipt, "status": "abandoned"}
    receipt["decided_by"] = {"user": decision.user, "via": decision.via, "approve": decision.approve,
                             "comment": decision.comment}
    if not decision.approve:
        _event(settings, store, record, "rejected", decision.user, {"run": run_id, "comment": decision.comment})
        return _finish(store, receipt, "rejected", record, run_id)
    _event(settings, store, record, "approved", decision.user, {"run": run_id, "comment": decision.comment})

    # 3. render, QA
    result, entries = render_task(src, workdir, spec, ts)
    _event(settings, store, record, "rendered", "footage",
           {"run": run_id, "frames": result.frames, "masked_tracks": sorted(result.masked_frames)})
    report = qa_task(Path(result.out), ts, spec.keep, settings.disclosure.qa_threshold)
    receipt["qa"] = {"passed": report.passed, "residuals": len(report.residuals), "frames": report.checked,
                     "residual_frames": report.residual_frames[:50]}
    _event(settings, store, record, "qa", "footage", {"run": run_id, **receipt["qa"]})
    if not report.passed:
        override = _wait(settings, QAOverride, "qa-override",
                         f"QA found {len(report.residuals)} face(s) outside the keep-list. Release anyway?")
        ok = override.release and override.reason.strip() and has_role(settings, override.user, Role.ARCHIVIST)
        receipt["qa"]["override"] = {"user": override.user, "via": override.via, "release": override.release,
                                     "reason": override.reason, "accepted": bool(ok)}
        if not ok:
            _event(settings, store, record, "blocked", override.user, {"run": run_id, "reason": override.reason})
            return _finish(store, receipt, "blocked", record, run_id)
        _event(settings, store, record, "qa_overridden", override.user, {"run": run_id, "reason": override.reason})

    # 4. watermark, store under its own retention, receipt
    today = datetime.now(timezone.utc).date()
    metadata = {"footage_status": "released", "footage_disclosure_run": run_id,
                "footage_disclosed_to": requester, "footage_source_sha256": record}
    final = watermark_task(Path(result.out), workdir / "disclosed.mp4", requester, today, metadata)
    out_sha = sha256_file(final)
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=settings.disclosure.retention_days)
    base = disclosure_prefix(record, run_id)
    info = store.put(base + "copy.mp4", final, sha256=out_sha, retain_until=until, mode=settings.storage.mode,
                     metadata={"record": record, "requester": safe_part(requester), "status": "released"},
                     content_type="video/mp4")
    log_path = write_log(entries, workdir / "redaction.json", record, out_sha)
    store.put(base + "redaction.json", log_path, retain_until=until, mode=settings.storage.mode,
              content_type="application/json")
    receipt.update({
        "output": {"key": info.key, "sha256": out_sha, "size": info.size, "retain_until": until.isoformat(),
                   "version_id": info.version_id},
        "source_sha256": record,
        "masked": [{"what": e.detail["what_en"], "start": e.start, "end": e.end, "basis": e.detail["basis"]}
                   for e in entries if e.kind == "redaction"],
        "kept": spec.keep,
        "watermark": {"to": requester, "date": today.isoformat()},
    })
    _event(settings, store, record, "released", decision.user,
           {"run": run_id, "key": info.key, "sha256": out_sha, "retain_until": until.isoformat()})
    return _finish(store, receipt, "released", record, run_id, until)


def _finish(store, receipt: dict[str, Any], status: str, record: str, run_id: str,
            until: datetime | None = None) -> dict[str, Any]:
    receipt["status"] = status
    receipt["closed_at"] = datetime.now(timezone.utc).isoformat()
    body = json.dumps(receipt, ensure_ascii=False, indent=1, sort_keys=True).encode()
    store.put(disclosure_prefix(record, run_id) + "receipt.json", body, retain_until=until,
              content_type="application/json")
    return receipt


# --- headless driving (the CLI and tests) -----------------------------------------------------------


class DisclosureError(RuntimeError):
    pass


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def find_run(name: str, timeout: float = 120.0, paused: bool = True):
    """The flow run called ``name``, once it exists (and, with ``paused``, once it waits for input)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

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
    name = f"disclose-{safe_part(record[:12])}-{uuid.uuid4().hex[:8]}"
    params = {"record": record, "requester": requester, "reason": reason, "archivist": user, "file": file,
              "detection": detection, "via": "cli"}
    if background:
        settings = load_settings()
        logs = settings.home / "disclosures"
        logs.mkdir(parents=True, exist_ok=True)
        from prefect.settings import PREFECT_API_URL

        # The child must reach the same server, also when its URL came from a profile.
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
        with open(logs / f"{name}.log", "ab") as out:
            subprocess.Popen([sys.executable, "-m", "flows.disclose", name, json.dumps(params)], stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        thread = None
    else:
        # Prefect's settings (the server's URL under a test harness) live in context variables.
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(_run_named, name, params), daemon=True)
        thread.start()
    run = find_run(name, timeout=wait)
    return {"run": str(run.id), "name": name, "state": run.state.name if run.state else None,
            "awaiting": awaiting(run), "thread": thread}


def _run_named(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return disclose_flow.with_options(flow_run_name=name)(**params)


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


def _submit(run_id: str, step: str, data: RunInput) -> str:
    """Resume the run waiting for ``step`` with ``data``; returns the pause key it answered."""
    run = _read(run_id)
    now = awaiting(run)
    if now != step:
        raise DisclosureError(f"run {run_id} is {run.state.name if run.state else 'unknown'}"
                              + (f", waiting for {now}" if now else "") + f", not for {step}")
    try:
        resume_flow_run(run.id, run_input=data.model_dump(mode="json"))
    except Exception as exc:  # the server validates the input against the pause's schema
        raise DisclosureError(f"Prefect refused the input: {exc}") from exc
    return pause_key(run)


def select(run_id: str, user: str, keep: list[int], masks=(), audio=(), style: str = "solid",
           comment: str = "") -> str:
    return _submit(run_id, "select", Selection(user=user, keep=keep, masks=list(masks), audio=list(audio), style=style,
                                        comment=comment, via="cli"))


def decide(run_id: str, user: str, approve: bool, comment: str = "") -> str:
    return _submit(run_id, "approve", Decision(user=user, approve=approve, comment=comment, via="cli"))


def override(run_id: str, user: str, release: bool, reason: str) -> str:
    return _submit(run_id, "qa-override", QAOverride(user=user, release=release, reason=reason, via="cli"))


def status(run_id: str) -> dict[str, Any]:
    run = _read(run_id)
    out = {"run": str(run.id), "name": run.name, "state": run.state.name if run.state else None,
           "awaiting": awaiting(run), "pause_key": pause_key(run), "parameters": {k: v for k, v in run.parameters.items() if k != "detection"}}
    settings = load_settings()
    store = open_store(settings)
    key = disclosure_prefix(run.parameters.get("record"), str(run.id)) + "receipt.json"
    if store.exists(key):
        out["receipt"] = json.loads(store.get_bytes(key))
    return out


def wait_next(run_id: str, after: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Block until the run has finished, or waits in a pause other than the one keyed ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _read(run_id)
        if run.state and (run.state.is_final() or (run.state.is_paused() and pause_key(run) != after)):
            return status(run_id)
        time.sleep(1)
    raise DisclosureError(f"run {run_id} still running after {timeout:.0f} s")


if __name__ == "__main__":  # python -m flows.disclose NAME PARAMS_JSON  (started by request())
    _run_named(sys.argv[1], json.loads(sys.argv[2]))
