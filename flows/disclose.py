"""The disclosure flow: a party's copy of a record, third parties masked, released only with approval.

Article 31 lets a party view or copy the records about them with a supervising leader's approval,
and no third party's information may leak; Article 30: nothing is released without procedure.

Steps (each appended to the record's event history and to the audit log)::

    requested -> tracks + contact sheet (Prefect artifact)
      -> suspend: archivist's selection (keep-list, manual masks, audio ranges)    [Selection]
      -> suspend: supervisor's approval or rejection, by a different user           [Decision]
      -> render -> QA (residual faces block the release unless an archivist
         overrides with a written reason)                                          [QAOverride]
      -> watermark ("disclosed to NAME on DATE, not for publication", zh + en)
      -> store the copy under its own retention -> receipt

Durability: the flow is the deployment ``disclose/disclosure`` served by ``footage serve``
(:func:`flows.deployments.build_deployments`); ``footage disclose request`` and the Prefect UI's
"Run" form both start it. Its waits are Prefect *suspensions*
(``suspend_flow_run(wait_for_input=...)``): the run's process exits while people decide, so
nothing is held and nothing is lost when the serving process or the machine restarts. A submitted
input (the UI's form, or ``footage disclose select|approve|reject|override`` through
``resume_flow_run``) reschedules the run; whichever ``footage serve`` is up runs it again from
the top. Every step before the wait is a task cached by (flow run, step) whose result is
persisted to the configured result storage (:func:`result_storage`), so a resumed run reads the
source, the tracks and the contact sheet back instead of computing them again, and appends no
event twice. A wait longer than ``disclosure.pause_timeout_hours`` ends the run: Prefect fails
it, and :func:`expire_overdue` (run by ``footage serve`` and ``footage disclose status``) audits
it as ``disclosure_expired``, writes an ``expired`` receipt and names the run's state Expired.

Open-source Prefect has no user identity: each input names its user (the CLI fills in ``--as``
or the OS user and sets ``via="cli"``; a UI user types a name, ``via="ui"``) and the receipt says
which. The flow, not the CLI, is the authority on roles (``disclose.*`` in
:data:`records.roles.ACTION_ROLES`): an input from a user without the role is refused (audited)
and the flow waits again.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from flows import prefect_env  # noqa: F401  (Prefect defaults before Prefect is imported)

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.filesystems import WritableFileSystem
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from PIL import Image
from pydantic import BaseModel, Field

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
from records.credentials import C2paError, sign_copy
from records.disclosure import (UNSIGNED_COPY, Actor, Decided, Expired, Masked, Output, Override, Proof, QAResult,
                                Receipt, Selected, SignedCopy, Status, UnsignedInput, Watermark)
from records.history import record_event
from records.keys import disclosure_prefix, safe_part
from records.manifest import find_manifest, load_manifest
from records.roles import Refused, check_separation, may, roles_of
from records.settings import Settings, load_settings, now_local
from records.store import open_store
from reports.tables import markdown_table

FLOW_NAME = "disclose"
DEPLOYMENT_NAME = "disclosure"
DEPLOYMENT = f"{FLOW_NAME}/{DEPLOYMENT_NAME}"  # what run_deployment and the UI's "Run" start
MAX_REFUSALS = 5  # inputs refused for want of a role before the flow gives up
RESULTS_PREFIX = "work/disclosure-results/"  # result objects in the store (``result_storage = "store"``)
EXPIRED = "Expired"  # the state name of a run that waited past its limit


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
    signed_at: str = Field("", description="Signing time (filled in by `footage disclose ... --key`; leave empty).")
    signature: str = Field("", description="Ed25519 signature (filled in by `footage disclose ... --key`; leave empty).")


class Decision(RunInput):
    """A supervisor's approval or rejection."""

    user: str = Field(description="Your user name (a supervisor, not the archivist who requested or selected).")
    approve: bool = Field(description="Approve the release of this copy?")
    comment: str = ""
    via: Literal["ui", "cli"] = "ui"
    signed_at: str = Field("", description="Signing time (filled in by `footage disclose ... --key`; leave empty).")
    signature: str = Field("", description="Ed25519 signature (filled in by `footage disclose ... --key`; leave empty).")


class QAOverride(RunInput):
    """An archivist's written decision on a copy in which QA found faces."""

    user: str = Field(description="Your user name (an archivist).")
    release: bool = Field(False, description="Release despite the residual faces?")
    reason: str = Field("", description="Why (required to release).")
    via: Literal["ui", "cli"] = "ui"
    signed_at: str = Field("", description="Signing time (filled in by `footage disclose ... --key`; leave empty).")
    signature: str = Field("", description="Ed25519 signature (filled in by `footage disclose ... --key`; leave empty).")


#: What is not an input's content: who sent it, how, and its signature (the rest is signed).
NOT_CONTENT = frozenset({"user", "via", "signed_at", "signature"})

#: The action (records.roles.ACTION_ROLES) each wait's input performs.
ACTIONS = {"select": "disclose.select", "approve": "disclose.approve", "qa-override": "disclose.override"}


def input_content(data: RunInput | dict[str, Any]) -> dict[str, Any]:
    """The signed content of an input: its fields, as JSON, but for user, via and signature.

    The CLI signs exactly this (:func:`records.identity.signed_fields`) and the flow verifies it.
    """
    doc = data.model_dump(mode="json") if isinstance(data, RunInput) else dict(data)
    return {k: v for k, v in doc.items() if k not in NOT_CONTENT}


def request_content(record: str, requester: str, reason: str, file: str | None,
                    detection: dict[str, Any] | None, text: dict[str, Any] | None) -> dict[str, Any]:
    """The signed content of a request (the flow's parameters but for who asks and the signature)."""
    return {"record": record, "requester": requester, "reason": reason, "file": file, "detection": detection,
            "text": text}


# --- result storage -------------------------------------------------------------------------------


class StoreResults(WritableFileSystem):
    """Prefect result storage in Footage's own object store (the S3 bucket, through boto3).

    Prefect 3 writes results to S3 only through ``prefect-aws`` or ``s3fs``, neither of which
    Footage installs; the store it already has (:func:`records.store.open_store`, configured by
    ``[storage]``) does the same job. Objects go under :data:`RESULTS_PREFIX`; on a bucket with a
    default retention they are kept that long, like everything else in it.
    """

    _block_type_name = "Footage store results"
    prefix: str = RESULTS_PREFIX

    # Prefect calls these synchronously with ``_sync=True`` (its blocks' async-dispatch flag).
    def read_path(self, path: str, **_: Any) -> bytes:
        return open_store(load_settings()).get_bytes(self.prefix + path)

    def write_path(self, path: str, content: bytes, **_: Any) -> str:
        open_store(load_settings()).put(self.prefix + path, content, content_type="application/octet-stream")
        return path


def result_storage(settings: Settings) -> WritableFileSystem | Path:
    """Where the flow's finished steps are persisted (``disclosure.result_storage``).

    ``auto`` (the default) is the bucket when the backend is S3, else the local folder
    ``disclosure.results_path`` (default ``HOME/work/disclosure-results``). A local folder only
    serves a ``footage serve`` on the same machine: see docs/disclosure.md. Prefect takes a
    task's result storage only as a path or as a block saved on the server: the store's block is
    saved (as ``footage-store-results/disclosure``, no secret in it) each time a run starts.
    """
    d = settings.disclosure
    kind = d.result_storage
    if kind == "auto":
        kind = "store" if settings.storage.backend == "s3" else "local"
    if kind == "store":
        block = StoreResults()
        block.save("disclosure", overwrite=True)
        return block
    return Path(d.results_path or settings.home / "work" / "disclosure-results")


def _once(ctx, params: dict[str, Any]) -> str:
    """Cache key of a step done once per disclosure run: the run, the task and the ``step`` argument."""
    return f"disclose-{ctx.task_run.flow_run_id}-{ctx.task.name}-{params.get('step') or ''}"


#: The options of every step of the flow: done once per run, its result persisted so that a
#: resumed run (which starts again from the top) reads it back instead of doing it again.
ONCE: dict[str, Any] = {"cache_key_fn": _once, "persist_result": True}


# --- events ---------------------------------------------------------------------------------------


@task(name="event", **ONCE)
def event_task(settings: Settings, step: str, record: str, kind: str, user: str, detail: dict[str, Any]) -> None:
    """Append to the record's history and to the audit log (same kind, prefixed ``disclosure_``).

    ``step`` names the event inside its run (a resumed run replays the flow: the event is written
    once). A failed audit append is logged, not raised: the record's history is the primary trail,
    and a half-done disclosure must still reach its receipt.
    """
    record_event(settings, open_store(settings), record, f"disclosure_{kind}", user=user, detail=detail,
                 on_audit_error=lambda exc: get_run_logger().warning("audit log append failed: %s", exc))


def _pause_seconds(settings: Settings) -> int:
    return max(1, int(settings.disclosure.pause_timeout_hours * 3600))


def _wait(settings: Settings, model, key: str, description: str):
    """Suspend the run until a person submits ``model`` (the run's process exits meanwhile)."""
    return suspend_flow_run(wait_for_input=model.with_initial_data(description=description),
                            timeout=_pause_seconds(settings), key=key)


class Verdict(BaseModel):
    """Whether an input may act: ``problem`` is None, or why not; ``proof`` is what
    :func:`records.identity.verify_input` proved (``{}`` when nothing was).

    Read with ``Verdict.model_validate``: a run resumed across an upgrade reads back the cached
    decision of an earlier version, a dictionary of the same fields.
    """

    problem: str | None = None
    proof: dict[str, Any] = Field(default_factory=dict)


@task(name="check-input", **ONCE)
def check_input(settings: Settings, step: str, action: str, got: dict[str, Any], record: str, run_id: str,
                pause_key: str | None, content: dict[str, Any], separate_from: dict[str, str] | None = None
                ) -> Verdict:
    """Decide once, per input, whether it may act (:class:`Verdict`).

    In order: its signature (:func:`records.identity.verify_input`: the user's registered key,
    fresh, not replayed; unsigned UI input only with ``disclosure.trust_ui_input``), the user's
    role, and for an approval the separation of duties (:func:`records.roles.check_separation`:
    not the archivist who requested it, not the one who selected, whatever roles they hold).
    The decision is cached with the step: a resumed run replays it instead of asking again (a
    signature already used must not be refused as replayed by its own run).
    """
    from records.identity import verify_input  # cryptography: imported by the steps that verify

    user = got["user"]
    try:
        proof = verify_input(settings, open_store(settings), user=user, action=action, record=record,
                             run_id=run_id, pause_key=pause_key, content=content, signed_at=got.get("signed_at") or None,
                             signature=got.get("signature") or None, via=got.get("via") or "ui")
    except Refused as exc:
        return Verdict(problem=f"signature: {exc}")
    if not may(settings, user, action):
        role = {"disclose.request": "an archivist", "disclose.select": "an archivist",
                "disclose.approve": "a supervisor", "disclose.override": "an archivist"}[action]
        return Verdict(problem=f"{user} is not {role} (roles: {sorted(r.value for r in roles_of(settings, user))})",
                       proof=proof)
    if separate_from is not None:
        try:
            check_separation(user, separate_from.get("requester"), separate_from.get("selector"))
        except Refused as exc:
            return Verdict(problem=str(exc), proof=proof)
    return Verdict(proof=proof)


# --- tasks ----------------------------------------------------------------------------------------


@task(name="fetch-source", **ONCE)
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


@task(name="find-tracks", **ONCE)
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


@task(name="publish-sheet", **ONCE)
def publish_sheet(ts, sheet: Path, run_id: str) -> str:
    """The contact sheet and the track table as the run's markdown artifact (once per run)."""
    key = f"disclose-{run_id[:8]}-tracks"
    create_markdown_artifact(markdown=_tracks_markdown(ts, sheet), key=key,
                             description="Face tracks: choose who stays visible")
    return key


@task(name="render", **ONCE)
def render_task(src: Path, workdir: Path, spec, tracks):
    """The redacted copy and its redaction log entries."""
    result = render(src, workdir / "redacted.mp4", spec, tracks=tracks, source_sha256=tracks.sha256)
    return result, redaction_log(result)


@task(name="qa", **ONCE)
def qa_task(path: Path, tracks, keep: list[int], threshold: float, text: TextConfig | None = None):
    """The independent QA pass: faces (and, with ``text``, text) outside the keep-list left in the copy."""
    return qa_pass(path, tracks, keep, QAConfig(threshold=threshold), text=text)


@task(name="watermark", **ONCE)
def watermark_task(path: Path, out: Path, requester: str, day: date, metadata: dict[str, str],
                   avoid: list | None = None) -> Path:
    """The visible "disclosed to NAME on DATE" mark (zh + en) and the release metadata."""
    return watermark_video(path, out, requester, day, metadata=metadata, avoid=avoid)


@task(name="sign", **ONCE)
def sign_task(settings: Settings, path: Path, out: Path, original: Path, record: str, run_id: str, entries,
              watermark: dict[str, Any]) -> tuple[Path, SignedCopy | None]:
    """The copy with the bureau's Content Credentials (records/credentials.py), or ``(path, None)``
    when ``[c2pa]`` is not configured (the receipt then warns; ``c2pa.required`` refuses)."""
    if not settings.c2pa.configured:
        if settings.c2pa.required:
            raise C2paError("[c2pa] is not configured and c2pa.required is set: the copy cannot be released")
        get_run_logger().warning(UNSIGNED_COPY)
        return path, None
    stored = find_manifest(open_store(settings), record)
    signed = sign_copy(settings, path, out, original=original, record=record,
                       source_key=stored.stored.key if stored else None, run=run_id,
                       receipt_key=disclosure_prefix(record, run_id) + "receipt.json", entries=entries,
                       watermark=watermark)
    return out, signed


# --- the flow -------------------------------------------------------------------------------------


def _tracks_markdown(ts, sheet: Path) -> str:
    rows = []
    for t in ts.tracks:
        last = min(t.last, ts.frames - 1)
        kind = {"face": "face / 人脸", "osd": "camera display, kept / 屏显（保留）"}.get(
            t.kind, " / ".join(WHAT.get(t.what, WHAT["text"])[::-1]))
        read = "" if t.kind == "face" else f"{t.text} ({t.read_score:.2f})"
        rows.append([track_label(t.id), kind, f"{t.first}-{last}", f"{t.first / ts.fps:.1f}-{(last + 1) / ts.fps:.1f} s",
                     t.hits, f"{max(t.scores):.2f}", read])
    table = markdown_table(["track / 轨迹", "kind / 类别", "frames / 帧", "time / 时间", "detections / 检出",
                            "best score / 最高分", "read / 识别"], rows)
    return (f"# Face and text tracks / 人脸和文字轨迹\n\n{_inline_image(sheet)}\n\nContact sheet: `{sheet}`\n\n"
            f"Text tracks are T1, T2 ... with what was read on each; keep any that is not text (or that "
            f"may be shown) by its id.\n\n{table}")


def _inline_image(path: Path, width: int = 960) -> str:
    """The sheet as a markdown image with a data URI, so the Prefect UI shows it in the artifact."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, int(im.height * width / im.width)))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=70)
    return f"![contact sheet](data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()})"


@dataclass(frozen=True)
class Steps:
    """Every task of the flow, with its results persisted to the configured result storage."""

    event: Any
    check_input: Any
    fetch_source: Any
    find_tracks: Any
    publish_sheet: Any
    render: Any
    qa: Any
    watermark: Any
    sign: Any


def _steps(settings: Settings) -> Steps:
    storage = result_storage(settings)
    tasks = (event_task, check_input, fetch_source, tracks_task, publish_sheet, render_task, qa_task, watermark_task,
             sign_task)
    return Steps(*(t.with_options(result_storage=storage) for t in tasks))


def _ask(settings: Settings, step: Steps, model, kind: str, description: str, record: str, run_id: str,
         separate_from: dict[str, str] | None = None, content_ok=None):
    """Wait for an input of ``model`` until one is accepted (or :data:`MAX_REFUSALS` are refused).

    Each refusal (signature, role, separation of duties, content) is recorded
    (``disclosure_input_refused``) and the run waits again under the next pause key
    (``select-1``, ``select-2`` ...). ``content_ok(got)`` returns why the content is unusable
    (unknown track ids), or None. Returns the accepted input and its proof, or ``(None, {})``.
    """
    for attempt in range(1, MAX_REFUSALS + 1):
        key = f"{kind}-{attempt}"
        got = _wait(settings, model, key, description)
        verdict = Verdict.model_validate(step.check_input(settings, key, ACTIONS[kind], got.model_dump(mode="json"),
                                                          record, run_id, key, input_content(got), separate_from))
        problem = verdict.problem
        if problem is None and content_ok is not None:
            problem = content_ok(got)
        if problem is None:
            return got, verdict.proof
        get_run_logger().warning("%s refused: %s", kind, problem)
        step.event(settings, f"refused-{key}", record, "input_refused", got.user,
                      {"run": run_id, "step": kind, "pause_key": key, "via": got.via, "why": problem})
    return None, {}


def _detail(run_id: str, proof: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An accepted input's event detail: the full proof rides along, for ``footage audit verify``."""
    return {"run": run_id, **more, **({"proof": proof} if proof else {})}


@flow(name=FLOW_NAME, log_prints=False)
def disclose_flow(
    record: str,
    requester: str,
    reason: str,
    archivist: str,
    file: str | None = None,
    detection: dict[str, Any] | None = None,
    via: str = "ui",
    text: dict[str, Any] | None = None,
    signed_at: str | None = None,
    signature: str | None = None,
) -> Receipt:
    """Prepare, get approved, check and release a party's copy of one record; returns its receipt.

    ``signed_at``/``signature``: the archivist's signature over the request
    (:func:`request_content`), made by ``footage disclose request --key``; required in
    multi-user mode unless started from the UI with ``disclosure.trust_ui_input``.
    """
    settings = load_settings()
    store = open_store(settings)
    step = _steps(settings)
    run_id = str(current_run.id)
    workdir = settings.home / "disclosures" / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    receipt = Receipt(run=run_id, record=record, requester=requester, reason=reason,
                      requested_by=Actor(user=archivist, via=via), status="open")
    unsigned: list[str] = []  # steps whose input was trusted unsigned (disclosure.trust_ui_input)

    def note(kind: str, proof: dict[str, Any]) -> None:
        if proof.get("unsigned"):
            unsigned.append(kind)
            receipt.unsigned_ui_input = UnsignedInput(steps=unsigned)

    verdict = Verdict.model_validate(step.check_input(
        settings, "request", "disclose.request",
        {"user": archivist, "via": via, "signed_at": signed_at, "signature": signature},
        record, None, None, request_content(record, requester, reason, file, detection, text)))
    if verdict.problem:
        step.event(settings, "refused", record, "refused", archivist, {"run": run_id, "why": verdict.problem})
        receipt.why = verdict.problem
        return _finish(store, receipt, "refused")
    note("request", verdict.proof)
    receipt.requested_by.proof = Proof.of(verdict.proof)
    step.event(settings, "requested", record, "requested", archivist,
               _detail(run_id, verdict.proof, requester=requester, reason=reason, via=via))

    src = step.fetch_source(settings, record, file, workdir)
    ts, sheet = step.find_tracks(src, record, workdir, detection, text)
    step.publish_sheet(ts, sheet, run_id)

    # 1. the archivist's selection
    specs: dict[int, RedactSpec] = {}

    def usable(got: Selection) -> str | None:
        try:
            spec = RedactSpec(keep=got.keep, masks=got.masks, audio=got.audio, style=got.style,
                              detection=ts.config, text=ts.text or TextConfig(enabled=False))
        except ValueError as exc:
            return f"invalid selection: {exc}"
        unknown = set(spec.keep) - set(ts.ids())
        if unknown:
            return f"unknown track ids {[track_label(i) for i in sorted(unknown)]}"
        specs[id(got)] = spec
        return None

    selection, proof = _ask(settings, step, Selection, "select",
                            f"Choose the track ids to keep visible (the requester {requester}); tracks: "
                            f"{[track_label(i) for i in ts.ids()]}", record, run_id, content_ok=usable)
    if selection is None:
        return _finish(store, receipt, "abandoned")
    spec = specs[id(selection)]
    note("select", proof)
    receipt.selected_by = Selected(user=selection.user, via=selection.via, comment=selection.comment,
                                   proof=Proof.of(proof))
    step.event(settings, "selected", record, "selected", selection.user,
                  _detail(run_id, proof, keep=spec.keep, masks=len(spec.masks), audio=len(spec.audio),
                          via=selection.via))

    # 2. the supervisor's decision: a different user, with the supervisor role
    decision, proof = _ask(settings, step, Decision, "approve",
                           f"Approve the release of record {record[:12]} to {requester}? "
                           f"Requested by {archivist}, selected by {selection.user}: neither may approve.",
                           record, run_id, separate_from={"requester": archivist, "selector": selection.user})
    if decision is None:
        return _finish(store, receipt, "abandoned")
    note("approve", proof)
    receipt.decided_by = Decided(user=decision.user, via=decision.via, approve=decision.approve,
                                 comment=decision.comment, proof=Proof.of(proof))
    if not decision.approve:
        step.event(settings, "rejected", record, "rejected", decision.user,
                      _detail(run_id, proof, comment=decision.comment))
        return _finish(store, receipt, "rejected")
    step.event(settings, "approved", record, "approved", decision.user,
                  _detail(run_id, proof, comment=decision.comment))

    # 3. render, QA
    result, entries = step.render(src, workdir, spec, ts)
    step.event(settings, "rendered", record, "rendered", "footage",
                  {"run": run_id, "frames": result.frames, "masked_tracks": sorted(result.masked_frames)})
    report = step.qa(Path(result.out), ts, spec.keep, settings.disclosure.qa_threshold,
                        spec.text if spec.text.enabled else None)
    receipt.qa = QAResult(passed=report.passed, residuals=len(report.residuals), frames=report.checked,
                          residual_frames=report.residual_frames[:50], text_residuals=len(report.text_residuals),
                          text_frames=report.text_checked)
    step.event(settings, "qa", record, "qa", "footage", {"run": run_id, **receipt.qa.to_json_dict()})
    if not report.passed:
        override, proof = _ask(settings, step, QAOverride, "qa-override",
                               f"QA found {len(report.residuals)} face(s) and {len(report.text_residuals)} text "
                               "box(es) outside the keep-list. Release anyway?", record, run_id)
        if override is None:
            return _finish(store, receipt, "abandoned")
        note("qa-override", proof)
        ok = bool(override.release and override.reason.strip())
        receipt.qa.override = Override(user=override.user, via=override.via, release=override.release,
                                       reason=override.reason, accepted=ok, proof=Proof.of(proof))
        if not ok:
            step.event(settings, "blocked", record, "blocked", override.user,
                          _detail(run_id, proof, reason=override.reason))
            return _finish(store, receipt, "blocked")
        step.event(settings, "qa_overridden", record, "qa_overridden", override.user,
                      _detail(run_id, proof, reason=override.reason))

    # 4. watermark, store under its own retention, receipt
    today = now_local(settings).date()  # the date people read on the copy: the configured zone
    metadata = {"footage_status": "released", "footage_disclosure_run": run_id,
                "footage_disclosed_to": requester, "footage_source_sha256": record}
    # The notice's band keeps clear of the camera's display when the display is kept.
    keep_osd = spec.text.enabled and not spec.text.mask_osd
    final = step.watermark(Path(result.out), workdir / "disclosed.mp4", requester, today, metadata,
                              ts.osd_boxes if keep_osd else None)
    final, signed = step.sign(settings, final, workdir / "signed.mp4", src, record, run_id, entries,
                              {"to": requester, "date": today.isoformat()})
    receipt.c2pa = signed
    if signed is None:
        receipt.warnings = [UNSIGNED_COPY]
    out_sha = sha256_file(final)
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=settings.disclosure.retention_days)
    base = disclosure_prefix(record, run_id)
    info = store.put(base + "copy.mp4", final, sha256=out_sha, retain_until=until, mode=settings.storage.mode,
                     metadata={"record": record, "requester": safe_part(requester), "status": "released"},
                     content_type="video/mp4")
    log_path = write_log(entries, workdir / "redaction.json", record, out_sha)
    store.put(base + "redaction.json", log_path, retain_until=until, mode=settings.storage.mode,
              content_type="application/json")
    receipt.output = Output(key=info.key, sha256=out_sha, size=info.size, retain_until=until,
                            version_id=info.version_id)
    receipt.source_sha256 = record
    receipt.masked = [Masked(what=e.detail["what_en"], start=e.start, end=e.end, basis=e.detail["basis"])
                      for e in entries if e.kind == "redaction"]
    receipt.kept = spec.keep
    receipt.watermark = Watermark(to=requester, date=today)
    step.event(settings, "released", record, "released", decision.user,
                  {"run": run_id, "key": info.key, "sha256": out_sha, "retain_until": until.isoformat(),
                   "c2pa": signed.to_json_dict() if signed else None,
                   **({"unsigned_ui_input": unsigned} if unsigned else {})})
    return _finish(store, receipt, "released", until)


def _finish(store, receipt: Receipt, status: Status, until: datetime | None = None) -> Receipt:
    """Close the receipt with ``status`` and store it (under ``until``, the copy's retention)."""
    receipt.status = status
    receipt.closed_at = datetime.now(timezone.utc)
    store.put(disclosure_prefix(receipt.record, receipt.run) + "receipt.json", receipt.to_json(),
              retain_until=until, content_type="application/json")
    return receipt


# --- expiry (run outside the flow: by footage serve and footage disclose status) -----------------


def overdue(run, now: datetime | None = None) -> bool:
    """Whether a disclosure run waited past its limit: still suspended after its pause timeout,
    or failed by Prefect for it ("... paused and never resumed", "... has timed out")."""
    state = run.state
    if state is None:
        return False
    now = now or datetime.now(timezone.utc)
    if state.is_paused():
        limit = state.state_details.pause_timeout
        return limit is not None and limit < now
    if state.is_failed() and state.name != EXPIRED:
        message = (state.message or "").lower()
        return "never resumed" in message or "timed out" in message
    return False


def expire_run(settings: Settings, run, client) -> Receipt:
    """Close a disclosure run that waited past ``disclosure.pause_timeout_hours``.

    Writes the ``disclosure_expired`` event (record history and audit log) and an ``expired``
    receipt, then sets the run's state to Cancelled, named Expired. Idempotent: a run whose
    receipt exists is only renamed.
    """
    from prefect.states import Cancelled  # Prefect's client states, imported with the flow anyway

    params = run.parameters or {}
    record, run_id = params.get("record"), str(run.id)
    store = open_store(settings)
    key = disclosure_prefix(record, run_id) + "receipt.json"
    waited = run.state.state_details.pause_key if run.state.is_paused() else None
    limit_h = settings.disclosure.pause_timeout_hours
    if store.exists(key):
        receipt = Receipt.from_json(store.get_bytes(key))
    else:
        record_event(settings, store, record, "disclosure_expired", user="footage",
                     detail={"run": run_id, "waited_for": waited, "limit_hours": limit_h,
                             "prefect_state": run.state.name, "message": run.state.message})
        receipt = _finish(store, Receipt(
            run=run_id, record=record, requester=params.get("requester"), reason=params.get("reason"),
            requested_by=Actor(user=params.get("archivist"), via=params.get("via")), status="open",
            expired=Expired(waited_for=waited, limit_hours=limit_h),
        ), "expired")
    client.set_flow_run_state(run.id, Cancelled(
        name=EXPIRED, message=f"Waited longer than {limit_h:g} h for {waited or 'input'}: expired, nothing released."),
        force=True)
    return receipt


def expire_overdue(settings: Settings | None = None) -> list[Receipt]:
    """Expire every disclosure run that waited past its limit; returns their receipts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    settings = settings or load_settings()
    done = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.PAUSED, StateType.FAILED]))))
        for run in runs:
            if overdue(run):
                done.append(expire_run(settings, run, client))
    return done
