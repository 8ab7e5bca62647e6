"""The nightly ingest flow: a pipeline of per-file units with one commit point each.

The flow body reads as the night's work (:func:`ingest_flow`)::

    look at the inbox -> lease the settled files
    -> take in: validate + probe + SHA-256 (an ``intake`` task per file); sort new / stored / twins / bad
    -> sessions (with recordings stored by earlier runs)
    -> submit, per new file: preserve (ONE decode pass: gap checks, master, access copy; then the
       store of the original and its derivatives) -> its session's rules -> commit (the manifest)
       + verify; per file stored by an earlier run: verify
    -> as each file's unit completes: audit it, move it out of the inbox; as each session's rules
       complete: its gap report
    -> quarantine bad input -> the ingest report

Each task returns a typed, frozen result and never raises past its retries: its last attempt
turns an error into a failed :class:`~records.intake.Outcome` that says which step failed
(:func:`last_attempt`), so the flow reads outcomes from futures with Prefect's own
:func:`~prefect.futures.as_completed` and ``.result()``, whatever the task runner. The only
failure a task cannot report itself is its worker's death; :func:`settled` reports that.

Tasks run on :class:`flows.runner.FootageTaskRunner`, given here, where the flow is defined, so
``footage ingest``, ``footage demo`` and a served deployment run on the same runner: an embedded
Dask cluster of one process per core, or an existing cluster named by ``runner.address``. Each
file's scratch copies are made, stored and removed inside one task (``preserve``), so they never
have to follow a file to another machine (``runner.scratch_limit_gb`` bounds them). The audit log
is appended by the flow's own process only: one appender per store (records/audit.py). Every step
is idempotent, so a task Dask recomputes after a worker died stores nothing twice
(docs/scaling.md). Nothing leaves the inbox before its stored copies were streamed back and
verified and its outcome is in the audit log.

Why three task runs per file, and no more: a task run costs about 0.3 CPU-s of the cluster (the
submit, the scheduler, the task engine, the server recording its states; docs/scaling.md, "Few
task runs"), more than a probe or the store of a file. So the steps of one file share a task
(validate + probe; decode + store; commit + verify), and the flow's own steps (audit, moving
files) are plain calls in its process, retried by tenacity (:func:`retrying`).
"""

from __future__ import annotations

import importlib
import os
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import dask
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run as current_flow_run
from pydantic import BaseModel, ConfigDict
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_chain, wait_fixed

from media.gaps.qc import QCResult
from media.gaps.session import listening_windows
from media.gaps.speech import Window
from media.model import Event, Recording, Session
from media.segment import segment
from storage import ObjectStore, StorageError
from storage.faults import fault

from flows import progress
from flows.looks import discover, forget, look_early
from flows.runner import (Cluster, FootageTaskRunner, live_workers, require_api_server, temporary_api_server,
                          worker_identity)
from records import growth, intake
from records.audit import open_audit
from records.credentials import attach_credentials
from records.deadlines import deadline_report
from records.derivatives import ArchiveOutputs, Processed, WorkCopy, machine_fault, process_recording, scratch_estimate
from records.explanations import load_explanations
from records.findings import GapDocument, GapError, findings_of
from records.history import events_of_kind, has_event, note_event
from records.intake import Batch, Outcome, Status
from records.lease import InboxLeases
from records.scratch import ScratchBudget, claim_scratch, release_scratch
from records.keys import derivative_key, key_suffix, manifest_key, original_key, originals_prefix, safe_part, sha256_of_original
from records.manifest import StoredObject, build_manifest, find_manifest
from records.retention import retain_until
from records.gate import check_action
from records.roles import acting_user
from records.settings import Settings, load_settings, today
from records.store import open_store
from reports.gaps import write_session_reports
from reports.ingest import IngestSummary, LeasedFile, RunnerInfo, build_summary, error_summary, write_ingest_report

#: Dask priority of the steps that finish a session (higher runs first; decode passes have 0)
FINISH_FIRST = 1
STEPS = ("validate", "probe", "qc", "archive", "store", "verify", "finalize")
#: what runs a task on a Dask worker, imported when the worker starts (:func:`dask_setup`), not at
#: its first task: Prefect's task engine and prefect-dask's wrapper (0.8 s otherwise, at every
#: worker's first task, all workers at once)
TASK_IMPORTS = ("prefect.task_engine", "prefect_dask.client")
#: record-history kinds of the commit protocol (docs/reliability.md)
INTENT = "ingest_intent"  # before the first put: the original's key
DONE = "ingest_audited"  # after the run's outcome events are in the audit log
AUDIT_RETRIES = [1.0, 5.0]  # seconds before each retry of an audit append


class Preserved(BaseModel):
    """A new file after its decode pass and the store of its original and derivatives.

    A pydantic model, not a dataclass: Dask unpacks dataclasses found in a task's arguments.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    out: Outcome
    qc: QCResult | None = None
    archive: ArchiveOutputs | None = None


class SessionRules(BaseModel):
    """A session's rules (articles 20 and 21) over its files: the session's gap document, or why
    there is none (the store down after the retries: its files then fail with ``gaps_failed``)."""

    model_config = ConfigDict(frozen=True)

    session: str
    document: GapDocument | None = None
    error: str | None = None


def dask_setup(service: Any) -> None:
    """Dask's preload hook: a worker (or scheduler) started with ``--preload flows.ingest``
    (docs/scaling.md; the embedded cluster's workers too) imports what the tasks need when it
    starts, not on the critical path of a run's first tasks."""
    for name in TASK_IMPORTS:
        importlib.import_module(name)


# -- how a task reports its own failure ------------------------------------------------------
def last_attempt() -> bool:
    """Whether the running task is on its last try (Prefect's retries included): before it, a
    task raises so that Prefect retries it; on it, the task returns a failed outcome instead."""
    ctx = TaskRunContext.get()
    return ctx is None or ctx.task_run.run_count > ctx.task.retries


def failed(out: Outcome, step: str, exc: BaseException | Any) -> Outcome:
    """``out`` failed at ``step``: the file stays in the inbox, and the reason says which step."""
    if type(exc).__name__ == "KilledWorker":  # Dask gave up on a task whose workers kept dying
        return out.set(Status.FAILED, "worker_lost", f"{step} of {out.file} failed: the worker running it died "
                       f"({exc}); the file stays in the inbox")
    why = str(exc) if isinstance(exc, (StorageError, OSError)) else type(exc).__name__ + (f": {exc}" if str(exc) else "")
    return out.set(Status.FAILED, f"{step}_failed", f"{step} of {out.file} failed: {why}; the file stays in the inbox")


def settled(future: PrefectFuture, out: Outcome, step: str) -> Outcome:
    """The outcome a task returned; a task run that returned none (its worker died and Dask gave
    up, or the run crashed) fails the file at ``step``."""
    try:
        result = future.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 (KilledWorker and the like: infrastructure, per file)
        return failed(out, step, exc)
    return result if isinstance(result, Outcome) else failed(out, step, result)


def retrying(step: str, retries: int, delays: list[float]) -> Retrying:
    """Retries of a step that runs inside another task run rather than in one of its own (its own
    would cost more than the step): ``retries`` more attempts, waiting ``delays`` seconds (the last
    one repeated, as Prefect's ``retry_delay_seconds``), each retry logged; then the error."""
    def logged(state: RetryCallState) -> None:
        get_run_logger().warning("%s failed (%s); retry %d of %d in %.0f s", step, state.outcome.exception(),
                                 state.attempt_number, retries, state.next_action.sleep if state.next_action else 0)

    return Retrying(stop=stop_after_attempt(retries + 1), wait=wait_chain(*(wait_fixed(d) for d in delays or [0])),
                    before_sleep=logged, reraise=True)


# -- per-file tasks --------------------------------------------------------------------------
@task(name="intake", cache_policy=NO_CACHE)
def intake_task(path: str, inbox: str, settings: Settings) -> Outcome:
    """Validate one file, then probe and hash it (the cheap barrier's work for one file). A
    failure that is not the file's (it vanished, the machine) is the file's outcome, never raised."""
    p = Path(path)
    try:
        return intake.identify(intake.validate(p, Path(inbox)), settings)
    except Exception as exc:  # noqa: BLE001 (reported per file; the run goes on)
        return failed(Outcome(file=p.relative_to(inbox).as_posix(), path=path), "probe", exc)


@task(name="earlier", cache_policy=NO_CACHE)
def earlier_recordings_task(recordings: list[Recording], settings: Settings) -> list[tuple[Recording, QCResult | None]]:
    """Recordings already stored for the same devices, close enough in time to share a session.

    They come back from their manifests, with the findings of their own decode checks, so a
    session that spans two runs is checked as one and nothing is decoded twice.
    """
    store = open_store(settings)
    margin = settings.session_break
    known = {r.sha256 for r in recordings}
    found: dict[str, tuple[Recording, QCResult | None]] = {}
    zones = (timezone.utc, ZoneInfo(settings.time.timezone))  # originals are filed by their UTC or local day
    for device in sorted({r.device_id for r in recordings}):
        mine = [r for r in recordings if r.device_id == device]
        lo = min(r.start for r in mine) - margin
        hi = max(r.end for r in mine) + margin
        days = {(lo + timedelta(days=d)).astimezone(tz) for d in range((hi - lo).days + 2) for tz in zones}
        for prefix in sorted({originals_prefix(device, day) for day in days}):
            for info in store.list(prefix):
                sha = sha256_of_original(info.key)
                if sha in known or sha in found:
                    continue
                manifest = find_manifest(store, sha)
                if manifest is None:
                    continue
                rec = manifest.recording
                if rec.end < lo or rec.start > hi:
                    continue
                qc = None
                if manifest.qc_stats is not None:
                    qc = QCResult(
                        path=rec.path, events=manifest.qc_events, duration=rec.duration,
                        has_video=rec.video is not None, has_audio=rec.audio is not None, stats=manifest.qc_stats,
                    )
                found[sha] = (rec, qc)
    return list(found.values())


@task(name="segment", cache_policy=NO_CACHE)
def segment_task(recordings: list[Recording], settings: Settings) -> list[Session]:
    return segment(recordings, settings.segment)


@task(name="preserve", cache_policy=NO_CACHE)
def preserve_task(out: Outcome, session_id: str | None, settings: Settings, run: str,
                  listen: list[Window] | None = None) -> Preserved:
    """One decode pass (gap checks, master, access copy) in this machine's scratch, then the store
    of the original and its derivatives; the scratch copies are gone when the task ends.

    A file the decoder gives up on is kept without checks or copies (a ``qc_failed`` /
    ``archive_failed`` event says why). Any other failure (the machine's scratch disk full, the
    store down after its retries) makes the outcome ``failed``: the file stays in the inbox for
    the next run. It never raises, so that its session's rules still run for the other files.
    ``listen``: where the speech detector listens (None: the whole file).
    """
    out = out.model_copy(update={"worker": worker_identity()})
    try:
        return _preserve(out, session_id, settings, run, listen)
    except Exception as exc:  # noqa: BLE001 (one file's failure, reported per file)
        if machine_fault(exc):
            return Preserved(out=out.set(Status.FAILED, "archive_failed", f"making the archive copies of {out.file} "
                                         f"failed: {exc}; the file stays in the inbox"))
        return Preserved(out=failed(out, "store" if isinstance(exc, StorageError) else "preserve", exc))


def _preserve(out: Outcome, session_id: str | None, settings: Settings, run: str,
              listen: list[Window] | None) -> Preserved:
    rec = out.recording
    root = settings.scratch_root
    folder = claim_scratch(root, f"{run}-{rec.sha256[:16]}")
    budget = ScratchBudget(root, int(settings.runner.scratch_limit_gb * 1e9))
    archive = settings.archive if settings.ingest.archive else None

    def waiting(used: int, limit: int) -> None:
        get_run_logger().info("%s waits for scratch space (%.1f of %.1f GB held)", out.file, used / 1e9, limit / 1e9)

    try:
        with budget.reserve(scratch_estimate(rec, archive), on_wait=waiting):
            done = process_recording(
                rec, out.path, folder, gaps=settings.gaps if settings.ingest.qc else None, archive=archive,
                session_id=session_id, threads=settings.runner.threads, listen=listen,
            )
            out = _with_problems(out, done)
            fault("preserve.after_decode")
            storing = retrying(f"store of {out.file}", settings.ingest.store_retries, settings.ingest.retry_delays_s)
            try:
                out = storing(store_copies, out, done.archive, settings, run)
            except Exception as exc:  # noqa: BLE001 (the store, after its retries: reported per file)
                return Preserved(out=failed(out, "store", exc))
    finally:
        release_scratch(folder)
    return Preserved(out=out, qc=done.qc, archive=done.archive)


def _with_problems(out: Outcome, done: Processed) -> Outcome:
    """A file that decodes badly is still kept: its record says which check or copy is missing."""
    log = get_run_logger()
    events = []
    if done.qc_error:
        log.warning("%s: decode check failed (%s); stored without it", out.file, done.qc_error)
        events.append(Event(kind="qc_failed", file=out.recording.name, detail={"error": done.qc_error}))
    if done.archive_error:
        log.warning("%s: archive formats failed (%s); the original is stored without them", out.file, done.archive_error)
        events.append(Event(kind="archive_failed", file=out.recording.name, detail={"error": done.archive_error}))
    if not events:
        return out
    recording = out.recording.model_copy(update={"events": [*out.recording.events, *events]})
    return out.model_copy(update={"recording": recording})


def store_copies(out: Outcome, archive: ArchiveOutputs | None, settings: Settings, run: str) -> Outcome:
    """Store the original and its derivatives (not yet the manifest: see :func:`commit_task`).
    Part of the ``preserve`` task, with its own retries (:func:`retrying`).

    An intent in the record's history comes first and names the original's key: a rerun after a
    crash reuses that key even when a sidecar that appeared since names another device. Every put
    of the same content under the same key returns the existing object, so a retry, a rerun or a
    recomputation by Dask makes no second version.
    """
    rec = out.recording
    store = open_store(settings)
    until = retain_until(rec.start, out.categories, settings.storage)
    mode = settings.storage.mode
    intents = events_of_kind(store, rec.sha256, INTENT)
    if intents:
        key = intents[0]["detail"]["key"]
    else:
        key = original_key(rec.sha256, rec.device_id, rec.start, key_suffix(rec.name))
        note_event(store, rec.sha256, INTENT, user="footage", detail={"key": key, "file": out.file, "run": run},
                   retain_until=until)
    fault("store.after_intent")
    metadata = {
        "sha256": rec.sha256,
        "device": rec.device_id,
        "officer": rec.officer_id or "",
        "start": rec.start.isoformat(),
        "source-name": safe_part(rec.name),
    }
    info = store.put(key, Path(out.path), sha256=rec.sha256, metadata=metadata, retain_until=until, mode=mode)
    fault("store.after_original")
    stored = StoredObject(key=key, sha256=rec.sha256, size=info.size, retain_until=until, mode=mode,
                          version_id=info.version_id, backend=store.name)
    derivatives = [_store_derivative(store, rec.sha256, d, until, mode) for d in (archive.derivatives() if archive else [])]
    fault("store.after_derivatives")
    return out.model_copy(update={"stored": stored, "derivatives": derivatives})


def _store_derivative(store: ObjectStore, sha256: str, d: WorkCopy, until: datetime, mode: str) -> StoredObject:
    key = derivative_key(sha256, d.kind, d.sha256, d.suffix)
    info = store.put(key, Path(d.path), sha256=d.sha256, metadata={"source-sha256": sha256, "kind": d.kind},
                     retain_until=until, mode=mode, content_type=d.content_type)
    return StoredObject(kind=d.kind, key=key, sha256=d.sha256, size=d.size, action=d.action, version_id=info.version_id,
                        retain_until=until, mode=mode)


@task(name="gaps", cache_policy=NO_CACHE)
def gaps_task(session: Session, preserved: list[Preserved], earlier: dict[str, QCResult],
              settings: Settings) -> SessionRules:
    """The session rules (articles 20 and 21) over one session, once its new files are decoded.

    ``preserved`` holds the session's new files (one that failed has no checks: the rules run on
    the rest). Returns the session's gap document; the flow writes the reports. Retried like the
    store; after the last attempt the error is the result (the session's files then fail).
    """
    qc = dict(earlier)
    qc.update({p.out.recording.path: p.qc for p in preserved if p.qc is not None})
    try:
        store = open_store(settings)
        doc = GapDocument.build([session], qc, settings.gaps, load_explanations(store, [session.id]))
    except Exception as exc:  # noqa: BLE001 (retried by Prefect, then the session's files say gaps_failed)
        if not last_attempt():
            raise
        return SessionRules(session=session.id, error=f"{type(exc).__name__}: {exc}")
    return SessionRules(session=session.id, document=doc)


@task(name="commit", cache_policy=NO_CACHE)
def commit_task(preserved: Preserved, rules: SessionRules | None, session: Session | None, settings: Settings,
                run: str) -> Outcome:
    """Write the manifest, the record's commit point, with the findings of its session; then
    stream every stored copy back and re-hash it (:func:`verify_copies`).

    Idempotent: a manifest already there (an earlier attempt, or Dask recomputing this task after
    a worker died) is kept as it is; it is never written twice. Retried (``ingest.store_retries``);
    after the last attempt the file's outcome names the step that failed (``store_failed``,
    ``verify_failed``).
    """
    out = preserved.out
    if out.status != Status.PENDING:  # its decode pass or store failed: it says why
        return out
    if rules is not None and rules.error is not None:
        return failed(out, "gaps", RuntimeError(rules.error))
    step = "store"
    try:
        out = commit_manifest(preserved, rules.document if rules else None, session, settings, run)
        step = "verify"
        return verify_copies(out, settings)
    except Exception as exc:  # noqa: BLE001 (retried by Prefect, then reported per file)
        if not last_attempt():
            raise
        return failed(preserved.out, step, exc)


def commit_manifest(preserved: Preserved, gap_doc: GapDocument | None, session: Session | None,
                    settings: Settings, run: str) -> Outcome:
    """The commit point: the manifest written (or found), the outcome ``stored`` or ``duplicate``."""
    out, qc, archive = preserved.out, preserved.qc, preserved.archive
    rec = out.recording
    store = open_store(settings)
    existing = find_manifest(store, rec.sha256)
    if existing is not None:  # committed by an earlier attempt of this run, or by a parallel run
        out = out.model_copy(update={"stored": existing.stored})
        intents = events_of_kind(store, rec.sha256, INTENT)
        mine = bool(intents) and intents[0]["detail"].get("run") == run
        return out.set(Status.STORED) if mine else out.set(Status.DUPLICATE, "already stored")
    manifest = build_manifest(
        rec, out.stored, session=session, qc=qc, categories=out.categories, case=out.case,
        findings=findings_of(gap_doc, rec.path) if gap_doc else [],
        archive=archive.manifest(out.derivatives) if archive else None,
    )
    # a camera's C2PA credentials, checked: an invalid one is a finding, never a reason to lose the file
    manifest = attach_credentials(manifest, Path(out.path), settings)
    store.put(manifest_key(rec.sha256), manifest.to_json(), retain_until=out.stored.retain_until,
              mode=out.stored.mode, content_type="application/json")
    fault("store.after_manifest")
    return out.set(Status.STORED)


@task(name="verify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def verify_task(out: Outcome, settings: Settings) -> Outcome:
    """:func:`verify_copies` of a record an earlier run stored (its file still in the inbox)."""
    try:
        return verify_copies(out, settings)
    except Exception as exc:  # noqa: BLE001 (retried by Prefect, then reported per file)
        if not last_attempt():
            raise
        return failed(out, "verify", exc)


def verify_copies(out: Outcome, settings: Settings) -> Outcome:
    """Stream the stored copies back and re-hash them; only a verified record may leave the inbox."""
    if out.status not in (Status.STORED, Status.DUPLICATE):
        return out
    store = open_store(settings)
    copies = [("original", out.stored), *((d.kind, d) for d in out.derivatives)]
    bad = [kind for kind, c in copies if not store.verify(c.key, c.sha256, version_id=c.version_id).ok]
    if bad:
        return out.set(Status.FAILED, "verify_failed",
                       f"stored copy of {out.file} ({', '.join(bad)}) is missing or does not match its SHA-256")
    return out.set(Status.INGESTED) if out.status == Status.STORED else out


# -- the flow's own steps (its process) -------------------------------------------------------
def move_out(outs: list[Outcome], settings: Settings, run_day: str, inbox: Path, user: str) -> list[Outcome]:
    """Move verified files (ingested or duplicate), audited, out of the inbox (to
    ``processed/<day>``), each only if it is still the file that was hashed and stored; a file
    that cannot be moved says so (``finalize_failed``) and the others go on. The run's log names
    the files moved.

    A file that changed since it was hashed (an upload that went on after the settle window)
    stays: its stored first part is a record of its own, and the next run stores the whole,
    which then supersedes it (:mod:`records.growth`). A whole that was stored here is linked to
    its first part before it leaves."""
    moved, links = [], []
    store = open_store(settings)
    for out in outs:
        try:
            if intake.changed_since_hashed(out):
                moved.append(_grew(out, store, inbox, user))
                continue
            note = growth.supersede(store, inbox, out, user)
            if note is not None:
                links.append((out, note))
            out = intake.move_out(out, settings.processed / run_day)
        except Exception as exc:  # noqa: BLE001 (that file stays in the inbox, and the run says why)
            moved.append(failed(out, "finalize", exc))
            continue
        try:  # moved: what follows cannot undo that
            growth.stamp_moved(out, Path(out.moved_to), inbox)
        except OSError as exc:
            get_run_logger().warning("%s: its stamp in processed/ could not be written (%s): a change after "
                                     "this move will not be seen", out.file, exc)
        fault("finalize.after_move")
        progress.done(out.file, out.status.value)
        moved.append(out)
    if links:  # the records of a file that grew, linked: the audit log says so too
        audit_events([{"kind": growth.SUPERSEDES, "user": user, "record": out.sha256,
                       "detail": {"record": note.sha256, "file": out.file}} for out, note in links], settings)
    gone = [o.file for o in moved if o.moved_to and o.status != Status.FAILED]
    if gone:
        get_run_logger().info("moved out of the inbox: %s", ", ".join(gone))
    return moved


def _grew(out: Outcome, store: ObjectStore, inbox: Path, user: str) -> Outcome:
    """``out``'s file grew after it was hashed: it stays in the inbox, noted as the first part."""
    get_run_logger().warning("%s changed after it was stored (an upload still going on?): it stays in the inbox "
                             "and the next run stores it whole; the part stored is record %s", out.file, out.sha256)
    growth.note_growth(inbox, out)
    note_event(store, out.sha256, growth.GREW, user=user, detail={"file": out.file},
               retain_until=out.stored.retain_until if out.stored else None)
    return out.model_copy(update={"reason": growth.GREW, "moved_to": None,
                                  "message": f"{out.file} changed after it was stored; it stays in the inbox"})


def quarantine(out: Outcome, settings: Settings) -> Outcome:
    """Move a bad file to quarantine with a JSON reason; never delete it."""
    try:
        out = intake.quarantine(out, settings.quarantine)
    except Exception as exc:  # noqa: BLE001 (it stays in the inbox; the run says why)
        return failed(out, "quarantine", exc)
    progress.done(out.file, Status.QUARANTINED.value)
    return out


def audit(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    """Append outcome events to the tamper-evident audit log, one segment, before the files leave
    the inbox; then mark each record audited in its history (a rerun after a crash between the
    two writes the events again rather than never). Runs in the flow's own process, the one
    appender of the run (records/audit.py), with two retries (:data:`AUDIT_RETRIES`)."""
    return retrying("audit", len(AUDIT_RETRIES), AUDIT_RETRIES)(_append_outcomes, outcomes, settings, user)


def audit_events(events: list[dict[str, Any]], settings: Settings) -> int:
    """Append events that are no file's outcome (a file brought back, two records linked) to the
    audit log, with the same retries as :func:`audit`."""
    if not events:
        return 0

    def append() -> int:
        open_audit(settings, open_store(settings)).append_many(events)
        return len(events)

    return retrying("audit", len(AUDIT_RETRIES), AUDIT_RETRIES)(append)


def _append_outcomes(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    events = [e for out in outcomes for e in _audit_events(out, user)]
    if not events:
        return 0
    store = open_store(settings)
    open_audit(settings, store).append_many(events)
    for out in outcomes:
        if out.status == Status.INGESTED:
            note_event(store, out.sha256, DONE, user=user, detail={"file": out.file},
                       retain_until=out.stored.retain_until)
    fault("ingest.after_outcome")
    return len(events)


def _audit_events(out: Outcome, user: str) -> list[dict[str, Any]]:
    sha = out.sha256
    if out.reason == growth.GREW:  # its first part was audited as stored; the file stays
        return [{"kind": growth.GREW, "user": user, "record": sha, "detail": {"file": out.file}}]
    if out.status == Status.INGESTED and out.stored:
        stored = out.stored
        until = stored.retain_until.isoformat() if stored.retain_until else None
        return [
            {"kind": "ingested", "user": user, "record": sha, "detail": {"file": out.file}},
            {"kind": "stored", "user": user, "record": sha,
             "detail": {"key": stored.key, "version_id": stored.version_id, "retain_until": until}},
            {"kind": "verified", "user": user, "record": sha, "detail": {"ok": True, "key": stored.key}},
        ]
    if out.status == Status.DUPLICATE:
        return [{"kind": "duplicate", "user": user, "record": sha, "detail": {"file": out.file}}]
    if out.status == Status.QUARANTINED:
        return [{"kind": "quarantined", "user": user, "record": sha,
                 "detail": {"file": out.file, "reason": out.reason, "moved_to": out.moved_to}}]
    if out.status == Status.FAILED:
        return [{"kind": "ingest_failed", "user": user, "record": sha,
                 "detail": {"file": out.file, "reason": out.reason, "message": out.message}}]
    return []


# -- the flow ----------------------------------------------------------------------------------
@flow(name="footage-ingest", task_runner=FootageTaskRunner(), log_prints=False)
def ingest_flow(inbox: str | None = None) -> IngestSummary:
    """Ingest every settled file in the inbox (default: the configured one); returns the run's
    summary (the ``footage ingest --json`` document, docs/cli.md)."""
    settings = load_settings()
    settings.ensure_layout()
    store = open_store(settings)
    user = acting_user(None)
    check_action(settings, user, "ingest", open_audit(settings, store))
    box = Path(inbox) if inbox else settings.inbox
    if not box.is_dir():
        raise FileNotFoundError(f"inbox {box} does not exist or is not a folder")

    if bring_back_grown(box, settings, store, user):  # the early look did not see them back
        forget((str(box.resolve()), float(settings.ingest.settle_seconds)))
    ready, busy = discover(box, settings.ingest.settle_seconds)
    get_run_logger().info("inbox %s: %d file(s) ready, %d still being written", box, len(ready), len(busy))
    leases = InboxLeases(box, settings.ingest.lease_ttl_s)
    try:
        mine, leased = lease_files(leases, ready, box)
        batch = take_in(mine, box, settings, store)
        sessions, earlier = group_sessions(batch.new, settings)
        units = submit_units(batch, sessions, earlier, settings, leases.run)
        reports = SessionReports(sessions, settings)
        finished, staying = finish_as_completed(units, batch, settings, user, box, reports)
        grown = [o for o in finished if o.reason == growth.GREW]
        bad = [intake.plan_quarantine(o, settings.quarantine) for o in batch.bad]
        audit(staying + grown + bad + batch.failed, settings, user)  # before bad input leaves the inbox
        quarantined = [quarantine(o, settings) for o in bad]
        # audited as leaving, yet still in the inbox (the move failed): the audit log says so too
        audit([o for o in finished + quarantined if o.reason in ("finalize_failed", "quarantine_failed")],
              settings, user)
    finally:
        leases.release_all()
    for out in batch.waiting:
        get_run_logger().warning("%s: %s", out.file, out.message)
    summary = build_summary(finished + staying + quarantined + batch.failed, sessions,
                            busy=[p.relative_to(box).as_posix() for p in busy] + [o.file for o in batch.waiting + grown],
                            gap_doc=reports.document())
    summary.leased = leased
    summary.hidden = intake.hidden_files(box)
    summary.flow_run = str(current_flow_run.id) if current_flow_run.id else None
    summary.runner = runner_info(settings, summary)
    return publish_report(settings, store, summary)


def bring_back_grown(box: Path, settings: Settings, store: ObjectStore, user: str) -> list[growth.Reclaimed]:
    """Files moved to processed/ that changed since (a writer that finished into the moved
    file) come back into the inbox, to be stored whole; each is noted in its first part's
    history and in the audit log. A stamp that cannot be handled is reported, never fatal."""
    back, problems = growth.reclaim(settings.processed, box, date.fromisoformat(today(settings)))
    for problem in problems:
        get_run_logger().warning("a file moved to processed/ could not be checked or brought back: %s", problem)
    if not back:
        return back
    get_run_logger().warning("back in the inbox, changed after they were stored (to be stored whole): %s",
                             ", ".join(b.file for b in back))
    for b in back:
        manifest = find_manifest(store, b.sha256)
        note_event(store, b.sha256, growth.GREW, user=user, detail={"file": b.file, "from": b.came_from},
                   retain_until=manifest.stored.retain_until if manifest else None)
    audit_events([{"kind": growth.GREW, "user": user, "record": b.sha256,
                   "detail": {"file": b.file, "from": b.came_from}} for b in back], settings)
    return back


def lease_files(leases: InboxLeases, ready: list[Path], box: Path) -> tuple[list[Path], list[LeasedFile]]:
    """The ready files this run may take; those another run holds are left to it, and said so."""
    mine, theirs, gone = [], [], []
    for path in ready:
        rel = path.relative_to(box).as_posix()
        holder = leases.acquire(rel)
        if holder is not None:
            theirs.append(LeasedFile(file=rel, run=holder.get("run"), host=holder.get("host")))
        elif os.path.lexists(path):
            mine.append(path)
        else:  # gone since the look (it started with the command): another run finished it first
            leases.release(rel)
            gone.append(rel)
    if theirs:
        get_run_logger().warning("%d file(s) are being ingested by another run; left to it", len(theirs))
    if gone:
        get_run_logger().info("%d file(s) left the inbox before this run took them: %s", len(gone), ", ".join(gone))
    return mine, theirs


def take_in(ready: list[Path], inbox: Path, settings: Settings, store: ObjectStore) -> Batch:
    """Validate, probe and hash every ready file (an ``intake`` task each: the cheap barrier),
    then sort them into new records, records stored before, twins and bad input."""
    for p in ready:
        progress.started(p.relative_to(inbox).as_posix(), len(STEPS))
    futures = intake_task.map([str(p) for p in ready], inbox=unmapped(str(inbox)), settings=unmapped(settings))
    probed = [settled(f, Outcome(file=p.relative_to(inbox).as_posix(), path=str(p)), "probe")
              for p, f in zip(ready, futures)]
    for out in probed:
        progress.step(out.file, "probe")

    def stored_copy(sha256: str) -> StoredObject | None:
        manifest = find_manifest(store, sha256)
        return manifest.stored if manifest else None

    batch = intake.sort_batch(probed, stored_copy)
    # committed by a run that died before its audit events: finished as this run's own
    batch.stored = [o if has_event(store, o.sha256, DONE) else
                    o.set(Status.STORED, "completed", "stored by an interrupted run; its outcome is recorded now")
                    for o in batch.stored]
    return batch


def group_sessions(new: list[Outcome], settings: Settings) -> tuple[list[Session], dict[str, QCResult]]:
    """The sessions the new recordings belong to, joined by recordings stored in earlier runs
    (a camera docked twice a day is one session), with the earlier ones' decode results."""
    if not new:
        return [], {}
    recordings = [o.recording for o in new]
    # a store that does not answer for a moment must not cost the night: retried like the store
    earlier = earlier_recordings_task.with_options(retries=settings.ingest.store_retries,
                                                   retry_delay_seconds=settings.ingest.retry_delays_s)(recordings, settings)
    sessions = segment_task(recordings + [r for r, _ in earlier], settings)
    names = {r.name for r in recordings}
    mine = [s for s in sessions if any(r.name in names for r in s.recordings)]
    return mine, {r.path: q for r, q in earlier if q is not None}


class Units:
    """The submitted work of a run: each file's last future (its outcome), each session's rules."""

    def __init__(self) -> None:
        self.files: dict[PrefectFuture, tuple[Outcome, str]] = {}  # future -> (the file as submitted, step)
        self.rules: dict[PrefectFuture, Session] = {}

    def futures(self) -> list[PrefectFuture]:
        return [*self.files, *self.rules]


def submit_units(batch: Batch, sessions: list[Session], earlier: dict[str, QCResult], settings: Settings,
                 run: str) -> Units:
    """Submit every file's unit at once: new files preserve -> their session's rules -> commit +
    verify; files an earlier run stored, verify.

    Futures, not results, go from task to task, so each file moves on as soon as what it needs is
    done; the only join is a session's rules, which wait for the decode passes of that session's
    files. Every decode pass is submitted first (a submission costs the flow process tens of
    milliseconds, and the workers start on the first pass while the rest are submitted); then the
    rules and commits, with a higher Dask priority than any decode pass, so that a session is
    stored and verified while the next one is decoded (pipelining).
    """
    units = Units()
    committing = commit_task.with_options(retries=settings.ingest.store_retries,
                                          retry_delay_seconds=settings.ingest.retry_delays_s)
    ruling = gaps_task.with_options(retries=settings.ingest.store_retries,
                                    retry_delay_seconds=settings.ingest.retry_delays_s)
    groups = _by_session(batch.new, sessions)
    preserved: dict[str, PrefectFuture] = {}
    for s, files in groups:
        # where the session's rules read speech: there, and only there, the speech detector listens
        listen = listening_windows(s.recordings, s.gaps, settings.gaps) if s is not None else {}
        for out in files:
            preserved[out.file] = preserve_task.submit(out, s.id if s else None, settings, run,
                                                       listen.get(out.recording.path))
            progress.step(out.file, "qc")
            _on_done(preserved[out.file], lambda f=out.file: progress.step(f, "archive"))
    with dask.annotate(priority=FINISH_FIRST):
        for s, files in groups:
            rules = None
            if s is not None:
                paths = {r.path for r in s.recordings}
                rules = ruling.submit(s, [preserved[o.file] for o in files],
                                      {p: q for p, q in earlier.items() if p in paths}, settings)
                units.rules[rules] = s
            for out in files:
                units.files[committing.submit(preserved[out.file], rules, s, settings, run)] = (out, "store")
    for out in batch.stored:  # stored by an earlier run: verified again before they leave
        units.files[verify_task.submit(out, settings)] = (out, "verify")
    return units


def _by_session(new: list[Outcome], sessions: list[Session]) -> list[tuple[Session | None, list[Outcome]]]:
    """The new files grouped by session, sessions in time order (files of no session last)."""
    groups: list[tuple[Session | None, list[Outcome]]] = []
    left = list(new)
    for s in sorted(sessions, key=lambda s: (s.start, s.id)):
        names = {r.name for r in s.recordings}
        groups.append((s, [o for o in left if o.recording.name in names]))
        left = [o for o in left if o.recording.name not in names]
    if left:
        groups.append((None, left))
    return groups


def _on_done(future: PrefectFuture, action: Callable[[], None]) -> None:
    """Run ``action`` in this process when ``future`` finishes (progress bars; never fails the run)."""
    try:
        future.add_done_callback(lambda _f: action())
    except Exception:  # noqa: BLE001 (a runner without callbacks: no progress, same result)
        pass


def finish_as_completed(units: Units, batch: Batch, settings: Settings, user: str, inbox: Path,
                        reports: "SessionReports") -> tuple[list[Outcome], list[Outcome]]:
    """As each unit completes (Prefect's :func:`~prefect.futures.as_completed`): a session's rules,
    its gap report; a file, its audit events, then its move out of the inbox with its in-run
    twins. A file that failed stays in the inbox; it is audited once, at the end, with the bad
    input (only a file that leaves the inbox must be audited first). Returns (finished: audited
    and moved, or failed to move; staying: not audited yet)."""
    finished: list[Outcome] = []
    staying: list[Outcome] = []
    twins = {t.sha256: [] for t in batch.twins}
    for t in batch.twins:
        twins[t.sha256].append(t)
    day = today(settings)
    for future in as_completed(units.futures()):
        if future in units.rules:
            try:
                rules = future.result(raise_on_failure=False)
            except Exception as exc:  # noqa: BLE001 (its worker died: the session's files say so)
                rules = exc
            reports.add(units.rules[future], rules)
            continue
        out = settled(future, *units.files[future])
        if out.status not in (Status.INGESTED, Status.DUPLICATE):
            get_run_logger().error("%s: %s (left in the inbox)", out.file, out.message)
            staying.append(out)
            continue
        group = [out, *(t.model_copy(update={"stored": out.stored}) for t in twins.pop(out.sha256, []))]
        audit(group, settings, user)  # before any of them leaves the inbox
        for o in move_out(group, settings, day, inbox, user):
            if o.status == Status.FAILED:
                get_run_logger().error("%s: %s (left in the inbox)", o.file, o.message)
            finished.append(o)
    left = [t.set(Status.FAILED, "twin_failed", f"{t.file} has the same content as another file of the run, which "
                  "was not stored; it stays in the inbox") for ts in twins.values() for t in ts]
    return finished, staying + left


class SessionReports:
    """Each session's gap report, written as soon as its rules are done (while the files of later
    sessions are still decoded), and the run's gap document, joined at the end.

    The drawing library is loaded in a thread meanwhile, so that neither costs the run's tail.
    A report that cannot be written early is written again at the end, where its error fails
    the run as before (after every file was finished).
    """

    def __init__(self, sessions: list[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings
        self.rules: dict[str, SessionRules] = {}
        self.written: set[str] = set()
        self.warm = threading.Thread(target=_load_drawing, name="footage-draw", daemon=True) if sessions else None
        if self.warm is not None:
            self.warm.start()

    def add(self, session: Session, rules: SessionRules | Any) -> None:
        """A session's rules are done: write its report (never fails the run here)."""
        if not isinstance(rules, SessionRules):  # the task run returned nothing (its worker died)
            rules = SessionRules(session=session.id, error=f"{type(rules).__name__}: {rules}")
        self.rules[session.id] = rules
        try:
            self._write(session)
        except Exception:  # noqa: BLE001 (written again, and failing, in document())
            pass

    def _write(self, s: Session) -> None:
        rules = self.rules[s.id]
        if rules.document is not None and s.id not in self.written:
            if self.warm is not None:
                self.warm.join()
            write_session_reports(self.settings.reports / today(self.settings) / "gaps", [s], rules.document,
                                  tz=self.settings.time.timezone)
            self.written.add(s.id)

    def document(self) -> GapDocument | None:
        """The sessions' gap documents joined into the run's (their reports written)."""
        if not self.sessions:
            return None
        parts: list[GapDocument | GapError] = []
        for s in self.sessions:
            rules = self.rules.get(s.id) or SessionRules(session=s.id, error="its rules never ran")
            if rules.document is None:  # its rules failed (the store down): its files say so
                parts.append(GapError(session=s.id, error=rules.error))
                continue
            self._write(s)
            parts.append(rules.document)
        return GapDocument.join(parts)


def _load_drawing() -> None:
    """Import matplotlib and register the CJK font (what the first timeline would wait for)."""
    try:
        import matplotlib.figure  # noqa: F401

        from reports.fonts import cjk_font

        cjk_font()
    except Exception:  # noqa: BLE001 (the report itself will say what is wrong)
        pass


def runner_info(settings: Settings, summary: IngestSummary) -> RunnerInfo:
    """Where the run's tasks ran (the flow's task runner says), and the workers it lost on the way."""
    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    cluster = runner.started() if isinstance(runner, FootageTaskRunner) else None
    if cluster is None:  # another task runner (a test's): say what the settings ask for
        address = settings.runner.address
        cluster = Cluster("dask" if address else "embedded", address, [])
    info = RunnerInfo(mode=cluster.mode, address=cluster.address, workers=len(cluster.workers),
                      processes=sorted({s.worker for s in summary.stored if s.worker}))
    now = live_workers(settings) if cluster.lost_checkable else None
    if now is not None:
        info.workers_lost = sorted(set(cluster.workers) - set(now))
    if info.workers_lost:
        get_run_logger().warning("workers lost during the run: %s (Dask ran their tasks again elsewhere)",
                                 ", ".join(info.workers_lost))
    return info


def publish_report(settings: Settings, store: ObjectStore, summary: IngestSummary) -> IngestSummary:
    """The run's summary with the deadlines, written as the day's report and shown in the UI."""
    deadlines = deadline_report(settings, store)
    summary.deadlines = deadlines.to_dict()
    md = write_ingest_report(settings, summary, deadlines)
    create_markdown_artifact(key="footage-ingest-report", markdown=md, description="Footage ingest report")
    return summary


# -- running it once ---------------------------------------------------------------------------
def run_ingest(inbox: Path | None = None) -> IngestSummary:
    """Run the flow once, as ``footage ingest`` does: with a temporary Prefect server of its own
    when none is configured. A run that fails as a whole (the store down before any file, a
    cluster that cannot be used) returns a summary that says why, every file left in the inbox."""
    settings = load_settings()
    look = look_early(inbox or settings.inbox, settings.ingest.settle_seconds)  # settles while Prefect starts
    os.environ["FOOTAGE_RUN_PID"] = str(os.getpid())  # a crash point in a worker kills the run (storage/faults.py)
    try:
        if settings.runner.address:  # a cluster's workers need a real Prefect server, not a temporary one
            require_api_server()
        with temporary_api_server(settings.home / "run"):
            return ingest_flow(inbox=str(inbox) if inbox else None)
    except Exception as exc:  # the run as a whole failed: say so, keep going
        summary = error_summary(exc)
        try:
            write_ingest_report(settings, summary)
        except OSError:
            pass  # the report folder itself is unwritable: the JSON still says what happened
        return summary
    finally:
        os.environ.pop("FOOTAGE_RUN_PID", None)
        forget(look)  # not taken: the run failed before its flow looked
