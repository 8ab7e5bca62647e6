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
headless CLI (``footage disclose select|approve|reject|override``, driven by
:mod:`flows.cli.disclose`) submits the same typed input with ``resume_flow_run``. Open-source
Prefect has no user identity: each input names its user (the CLI fills in ``--as`` or the OS user
and sets ``via="cli"``; a UI user types a name, ``via="ui"``) and the receipt says which. The flow, not the CLI, is the authority
on roles (``disclose.*`` in :data:`records.roles.ACTION_ROLES`): an input from a user without
the role is refused (audited) and the flow waits again.

This module holds the flow, its tasks and the typed inputs; ``python -m flows.disclose NAME
PARAMS_JSON`` runs the flow as the run called NAME (how the CLI starts it in the background).
"""

from __future__ import annotations

import base64
import io
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from flows import prefect_env  # noqa: F401  (Prefect defaults before Prefect is imported)

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from PIL import Image
from pydantic import Field

from media.redact import (
    DetectionConfig,
    QAConfig,
    RedactSpec,
    TextConfig,
    contact_sheet,
    find_tracks,
    qa_pass,
    redaction_log,
    render,
    sha256_file,
    watermark_video,
    write_log,
)
from media.redact.spec import track_label
from media.redact.text import WHAT
from records.history import record_event
from records.keys import disclosure_prefix, safe_part
from records.manifest import load_manifest
from records.roles import may, roles_of
from records.settings import Settings, load_settings, now_local
from records.store import open_store
from reports.tables import markdown_table

FLOW_NAME = "disclose"
MAX_REFUSALS = 5  # inputs refused for want of a role before the flow gives up


class Selection(RunInput):
    """The archivist's choice after looking at the contact sheet."""

    user: str = Field(description="Your user name (the archivist making this selection).")
    keep: list[int | str] = Field(
        default_factory=list, description="Track ids to leave visible: the requester; text tracks as T1, T2 ..."
    )
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
    """Append to the record's history and to the audit log (same kind, prefixed ``disclosure_``).

    A failed audit append is logged, not raised: the record's history is the primary trail, and
    a half-done disclosure must still reach its receipt.
    """
    record_event(settings, store, record, f"disclosure_{kind}", user=user, detail=detail,
                 on_audit_error=lambda exc: get_run_logger().warning("audit log append failed: %s", exc))


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
def tracks_task(src: Path, record: str, workdir: Path, detection: dict[str, Any] | None,
                text: dict[str, Any] | None = None):
    """Face and text tracks of the source and the contact sheet the archivist chooses from.

    ``text`` is a :class:`media.redact.TextConfig` (default: text masked, the camera's display kept;
    ``{"enabled": false}`` looks for faces only).
    """
    text_config = TextConfig.model_validate(text or {})
    ts = find_tracks(src, DetectionConfig.model_validate(detection or {}), sha256=record,
                     text=text_config if text_config.enabled else None)
    ts.save(workdir / "tracks.json")
    sheet = contact_sheet(ts, workdir / "sheet.png")
    return ts, sheet


@task(name="render", cache_policy=NO_CACHE)
def render_task(src: Path, workdir: Path, spec, tracks):
    """The redacted copy and its redaction log entries."""
    result = render(src, workdir / "redacted.mp4", spec, tracks=tracks, source_sha256=tracks.sha256)
    return result, redaction_log(result)


@task(name="qa", cache_policy=NO_CACHE)
def qa_task(path: Path, tracks, keep: list[int], threshold: float, text: TextConfig | None = None):
    """The independent QA pass: faces (and, with ``text``, text) outside the keep-list left in the copy."""
    return qa_pass(path, tracks, keep, QAConfig(threshold=threshold), text=text)


@task(name="watermark", cache_policy=NO_CACHE)
def watermark_task(path: Path, out: Path, requester: str, day: date, metadata: dict[str, str],
                   avoid: list | None = None) -> Path:
    """The visible "disclosed to NAME on DATE" mark (zh + en) and the release metadata."""
    return watermark_video(path, out, requester, day, metadata=metadata, avoid=avoid)


# --- the flow -------------------------------------------------------------------------------------


def _tracks_markdown(ts, sheet: Path) -> str:
    rows = []
    for t in ts.tracks:
        last = min(t.last, ts.frames - 1)
        kind = {"face": "face / 人脸", "osd": "camera display, kept / 屏显（保留）"}.get(
            t.kind, " / ".join(WHAT.get(t.what, WHAT["text"])[::-1]))
        rows.append([track_label(t.id), kind, f"{t.first}-{last}", f"{t.first / ts.fps:.1f}-{(last + 1) / ts.fps:.1f} s",
                     t.hits, f"{max(t.scores):.2f}"])
    table = markdown_table(["track / 轨迹", "kind / 类别", "frames / 帧", "time / 时间", "detections / 检出",
                            "best score / 最高分"], rows)
    return (f"# Face and text tracks / 人脸和文字轨迹\n\n{_inline_image(sheet)}\n\nContact sheet: `{sheet}`\n\n"
            f"Text tracks are T1, T2 ...; keep any by its id.\n\n{table}")


def _inline_image(path: Path, width: int = 960) -> str:
    """The sheet as a markdown image with a data URI, so the Prefect UI shows it in the artifact."""
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
    text: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Prepare, get approved, check and release a party's copy of one record."""
    settings = load_settings()
    store = open_store(settings)
    log = get_run_logger()
    run_id = str(current_run.id)
    workdir = settings.home / "disclosures" / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    receipt: dict[str, Any] = {
        "schema": "footage.disclosure-receipt/1", "run": run_id, "record": record, "requester": requester,
        "reason": reason, "requested_by": {"user": archivist, "via": via}, "status": "open",
    }
    if not may(settings, archivist, "disclose.request"):
        _event(settings, store, record, "refused", archivist, {"run": run_id, "why": "requester lacks archivist role"})
        return {**receipt, "status": "refused"}
    _event(settings, store, record, "requested", archivist,
           {"run": run_id, "requester": requester, "reason": reason, "via": via})

    src = fetch_source(settings, record, file, workdir)
    ts, sheet = tracks_task(src, record, workdir, detection, text)
    create_markdown_artifact(markdown=_tracks_markdown(ts, sheet), key=f"disclose-{run_id[:8]}-tracks",
                             description="Face tracks: choose who stays visible")

    # 1. the archivist's selection
    selection, spec = None, None
    for attempt in range(1, MAX_REFUSALS + 1):
        got = _wait(settings, Selection, f"select-{attempt}",
                    f"Choose the track ids to keep visible (the requester {requester}); tracks: "
                    f"{[track_label(i) for i in ts.ids()]}")
        problem = None
        if not may(settings, got.user, "disclose.select"):
            problem = f"{got.user} is not an archivist"
        else:
            try:
                spec = RedactSpec(keep=got.keep, masks=got.masks, audio=got.audio, style=got.style,
                                  detection=ts.config, text=ts.text or TextConfig(enabled=False))
                if set(spec.keep) - set(ts.ids()):
                    problem = f"unknown track ids {[track_label(i) for i in sorted(set(spec.keep) - set(ts.ids()))]}"
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
        elif not may(settings, got.user, "disclose.approve"):
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
    report = qa_task(Path(result.out), ts, spec.keep, settings.disclosure.qa_threshold,
                     spec.text if spec.text.enabled else None)
    receipt["qa"] = {"passed": report.passed, "residuals": len(report.residuals), "frames": report.checked,
                     "residual_frames": report.residual_frames[:50],
                     "text_residuals": len(report.text_residuals), "text_frames": report.text_checked}
    _event(settings, store, record, "qa", "footage", {"run": run_id, **receipt["qa"]})
    if not report.passed:
        override = _wait(settings, QAOverride, "qa-override",
                         f"QA found {len(report.residuals)} face(s) and {len(report.text_residuals)} text box(es) "
                         "outside the keep-list. Release anyway?")
        ok = override.release and override.reason.strip() and may(settings, override.user, "disclose.override")
        receipt["qa"]["override"] = {"user": override.user, "via": override.via, "release": override.release,
                                     "reason": override.reason, "accepted": bool(ok)}
        if not ok:
            _event(settings, store, record, "blocked", override.user, {"run": run_id, "reason": override.reason})
            return _finish(store, receipt, "blocked", record, run_id)
        _event(settings, store, record, "qa_overridden", override.user, {"run": run_id, "reason": override.reason})

    # 4. watermark, store under its own retention, receipt
    today = now_local(settings).date()  # the date people read on the copy: the configured zone
    metadata = {"footage_status": "released", "footage_disclosure_run": run_id,
                "footage_disclosed_to": requester, "footage_source_sha256": record}
    # The notice's band keeps clear of the camera's display when the display is kept.
    keep_osd = spec.text.enabled and not spec.text.mask_osd
    final = watermark_task(Path(result.out), workdir / "disclosed.mp4", requester, today, metadata,
                           ts.osd_boxes if keep_osd else None)
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


def run_named(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`disclose_flow` as the flow run called ``name`` (the driver finds it by that name)."""
    return disclose_flow.with_options(flow_run_name=name)(**params)


if __name__ == "__main__":  # python -m flows.disclose NAME PARAMS_JSON (started by flows.cli.disclose.request)
    run_named(sys.argv[1], json.loads(sys.argv[2]))
