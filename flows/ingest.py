"""The nightly ingest flow: a pipeline of per-file chains with one commit point each.

Reads top to bottom as the night's work::

    discover -> lease -> validate + probe + SHA-256 (per file)         \\  the cheap barrier:
      -> sort: new / already stored / twins / bad                      /  every file, then on
      -> sessions (with recordings stored by earlier runs)
    per new file, on its own, as soon as its turn comes:
      preserve: ONE decode pass (gap checks, access copy, master) in local scratch,
                then store the original and its derivatives
      -> session rules (joins the files of its session only) -> commit the manifest
      -> verify every stored copy -> audit (this process) -> move out of the inbox
    -> quarantine bad input -> ingest report and gap reports (the join for the report)

Tasks run on a Dask cluster through prefect-dask (:mod:`flows.runner`): an embedded one of one
process per core, or an existing cluster named by ``runner.address``; only configuration
differs. The flow submits every file's chain at once and passes futures, not results, so the
first files are stored and verified while later ones are still being decoded. Each file's
scratch copies are made, stored and removed inside one task (``preserve``), so they never have
to follow a file to another machine; the space they take on a machine is bounded
(``runner.scratch_limit_gb``). The audit log is appended by the flow's own process only: one
appender per store (records/audit.py). Every step is idempotent, so a task Dask recomputes after
a worker died stores nothing twice (docs/scaling.md). Nothing leaves the inbox before its stored
copies were streamed back and verified and its outcome is in the audit log.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import dask
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
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
from flows.runner import live_workers, task_runner, worker_identity
from flows.runtime import forget_temporary_server, note_temporary_server, stop_orphaned_servers
from records import intake
from records.audit import open_audit
from records.deadlines import deadline_report
from records.derivatives import ArchiveOutputs, Processed, machine_fault, process_recording, scratch_estimate
from records.explanations import load_explanations
from records.findings import document as gaps_document
from records.findings import findings_of
from records.history import events_of_kind, has_event, note_event
from records.intake import Batch, Outcome, Status
from records.lease import InboxLeases
from records.scratch import ScratchBudget, claim_scratch, clean_scratch, release_scratch
from records.keys import derivative_key, key_suffix, manifest_key, original_key, originals_prefix, safe_part, sha256_of_original
from records.manifest import build_manifest, find_manifest
from records.retention import retain_until
from records.roles import acting_user, require_action
from records.settings import Settings, load_settings, today
from records.store import open_store
from reports.gaps import write_session_reports
from reports.ingest import build_summary, error_summary, write_ingest_report

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

    model_config = ConfigDict(arbitrary_types_allowed=True)

    out: Outcome
    qc: QCResult | None = None
    archive: ArchiveOutputs | None = None


def dask_setup(service: Any) -> None:
    """Dask's preload hook: a worker (or scheduler) started with ``--preload flows.ingest``
    (docs/scaling.md; the embedded cluster's workers too) imports what the tasks need when it
    starts, not on the critical path of a run's first tasks."""
    import importlib

    for name in TASK_IMPORTS:
        importlib.import_module(name)


# -- per-file tasks --------------------------------------------------------------------------
# A task run costs about 0.3 CPU-s of the cluster wherever it runs (submit, scheduler, task
# engine, the server recording its states): more than a probe or the store of a file. So the
# steps of one file share a task (validate + probe; the decode pass + the store; commit + verify)
# and the flow's own steps (audit, finalize) are plain calls in its process, retried by tenacity
# where Prefect retried them: on a machine whose cores the control plane shares with the workers,
# task runs were about a fifth of a run's CPU (docs/scaling.md, "Where the time goes").
@task(name="intake", cache_policy=NO_CACHE)
def intake_task(path: str, inbox: str, settings: Settings) -> Outcome:
    """Validate one file, then probe and hash it (the cheap barrier's work for one file)."""
    return intake.identify(intake.validate(Path(path), Path(inbox)), settings)


class StepFailed(Exception):
    """A step of a task that runs two steps (commit, then verify) failed: which one, and why."""

    def __init__(self, step: str, error: BaseException):
        super().__init__(step, error)  # the args rebuild it when Dask or Prefect unpickle it
        self.step, self.error = step, error


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
    out.worker = worker_identity()
    try:
        return _preserve(out, session_id, settings, run, listen)
    except Exception as exc:  # noqa: BLE001 (one file's failure, reported per file)
        if machine_fault(exc):
            return Preserved(out=out.set(Status.FAILED, "archive_failed", f"making the archive copies of {out.file} "
                                         f"failed: {exc}; the file stays in the inbox"))
        return Preserved(out=_failed(out, "store" if isinstance(exc, StorageError) else "preserve", exc))


def _preserve(out: Outcome, session_id: str | None, settings: Settings, run: str,
              listen: list[Window] | None) -> Preserved:
    rec = out.recording
    root = settings.scratch_root
    clean_scratch(root)  # of killed tasks on this host
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
            _note_problems(out, done)
            fault("preserve.after_decode")
            storing = retrying(f"store of {out.file}", settings.ingest.store_retries, settings.ingest.retry_delays_s)
            try:
                out = storing(store_copies, out, done.archive, settings, run)
            except Exception as exc:  # noqa: BLE001 (the store, after its retries: reported per file)
                return Preserved(out=_failed(out, "store", exc))
    finally:
        release_scratch(folder)
    return Preserved(out=out, qc=done.qc, archive=done.archive)


def _note_problems(out: Outcome, done: Processed) -> None:
    """A file that decodes badly is still kept: its record says which check or copy is missing."""
    log = get_run_logger()
    if done.qc_error:
        log.warning("%s: decode check failed (%s); stored without it", out.file, done.qc_error)
        out.recording.events.append(Event(kind="qc_failed", file=out.recording.name, detail={"error": done.qc_error}))
    if done.archive_error:
        log.warning("%s: archive formats failed (%s); the original is stored without them", out.file, done.archive_error)
        out.recording.events.append(Event(kind="archive_failed", file=out.recording.name, detail={"error": done.archive_error}))


def retrying(step: str, retries: int, delays: list[float]) -> Retrying:
    """Retries of a step that runs inside another task run rather than in one of its own (its own
    would cost more than the step): ``retries`` more attempts, waiting ``delays`` seconds (the last
    one repeated, as Prefect's ``retry_delay_seconds``), each retry logged; then the error."""
    def logged(state: RetryCallState) -> None:
        get_run_logger().warning("%s failed (%s); retry %d of %d in %.0f s", step, state.outcome.exception(),
                                 state.attempt_number, retries, state.next_action.sleep if state.next_action else 0)

    return Retrying(stop=stop_after_attempt(retries + 1), wait=wait_chain(*(wait_fixed(d) for d in delays or [0])),
                    before_sleep=logged, reraise=True)


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
    out.stored = {
        "key": key, "sha256": rec.sha256, "size": info.size, "retain_until": until.isoformat(), "mode": mode,
        "version_id": info.version_id, "backend": store.name,
    }
    out.derivatives = [_store_derivative(store, rec.sha256, d, until, mode) for d in (archive.derivatives() if archive else [])]
    fault("store.after_derivatives")
    return out


def _store_derivative(store: ObjectStore, sha256: str, d: dict[str, Any], until: datetime, mode: str) -> dict[str, Any]:
    key = derivative_key(sha256, d["kind"], d["sha256"], d["suffix"])
    info = store.put(
        key, Path(d["path"]), sha256=d["sha256"], metadata={"source-sha256": sha256, "kind": d["kind"]},
        retain_until=until, mode=mode, content_type=d["content_type"],
    )
    return {"kind": d["kind"], "key": key, "sha256": d["sha256"], "size": d["size"], "action": d["action"],
            "version_id": info.version_id, "work_path": d["path"]}


def _public(derivative: dict[str, Any]) -> dict[str, Any]:
    """A stored derivative as the manifest lists it (the local work path is not a fact of the record)."""
    return {k: v for k, v in derivative.items() if k != "work_path"}


@task(name="gaps", cache_policy=NO_CACHE)
def gaps_task(session: Session, preserved: list[Preserved], earlier: dict[str, QCResult], settings: Settings) -> dict[str, Any]:
    """The session rules (articles 20 and 21) over one session, once its new files are decoded.

    ``preserved`` holds the session's new files (one that failed has no checks: the rules run on
    the rest). Returns the session's gap document; the
    flow writes the reports.
    """
    qc = dict(earlier)
    qc.update({p.out.recording.path: p.qc for p in preserved if p.qc is not None})
    store = open_store(settings)
    return gaps_document([session], qc, settings.gaps, load_explanations(store, [session.id]))


@task(name="commit", cache_policy=NO_CACHE)
def commit_task(preserved: Preserved, gap_doc: dict[str, Any] | None, session: Session | None, settings: Settings,
                run: str) -> Outcome:
    """Write the manifest, the record's commit point, with the findings of its session; then
    stream every stored copy back and re-hash it (:func:`verify_copies`).

    Idempotent: a manifest already there (an earlier attempt, or Dask recomputing this task after
    a worker died) is kept as it is; it is never written twice. A failure of the verification is
    raised as :class:`StepFailed` ``("verify", ...)``, so the file's reason says which step failed.
    """
    out = commit_manifest(preserved, gap_doc, session, settings, run)
    try:
        return verify_copies(out, settings)
    except Exception as exc:  # noqa: BLE001 (retried with the task; then the file says "verify_failed")
        raise StepFailed("verify", exc) from exc


def commit_manifest(preserved: Preserved, gap_doc: dict[str, Any] | None, session: Session | None,
                    settings: Settings, run: str) -> Outcome:
    """The commit point: the manifest written (or found), the outcome ``stored`` or ``duplicate``."""
    out, qc, archive = preserved.out, preserved.qc, preserved.archive
    if out.status != Status.PENDING:
        return out
    rec = out.recording
    progress.step(out.file, "store")
    store = open_store(settings)
    existing = find_manifest(store, rec.sha256)
    if existing is not None:  # committed by an earlier attempt of this run, or by a parallel run
        out.stored = existing.stored.model_dump(mode="json")
        intents = events_of_kind(store, rec.sha256, INTENT)
        mine = bool(intents) and intents[0]["detail"].get("run") == run
        return out.set(Status.STORED) if mine else out.set(Status.DUPLICATE, "already stored")
    until = datetime.fromisoformat(out.stored["retain_until"])
    manifest = build_manifest(
        rec, out.stored, session=session, qc=qc, categories=out.categories, case=out.case,
        findings=findings_of(gap_doc, rec.path) if gap_doc else [],
        archive={**archive.manifest(), "stored": [_public(d) for d in out.derivatives]} if archive else None,
    )
    store.put(manifest_key(rec.sha256), manifest.to_json(), retain_until=until, mode=out.stored["mode"],
              content_type="application/json")
    fault("store.after_manifest")
    return out.set(Status.STORED)


@task(name="verify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def verify_task(out: Outcome, settings: Settings) -> Outcome:
    """:func:`verify_copies` of a record an earlier run stored (its file still in the inbox)."""
    return verify_copies(out, settings)


def verify_copies(out: Outcome, settings: Settings) -> Outcome:
    """Stream the stored copies back and re-hash them; only a verified record may leave the inbox."""
    if out.status not in (Status.STORED, Status.DUPLICATE):
        return out
    progress.step(out.file, "verify")
    store = open_store(settings)
    copies = [("original", out.stored), *((d["kind"], d) for d in out.derivatives)]
    bad = [kind for kind, c in copies if not store.verify(c["key"], c["sha256"], version_id=c.get("version_id")).ok]
    if bad:
        return out.set(Status.FAILED, "verify_failed",
                       f"stored copy of {out.file} ({', '.join(bad)}) is missing or does not match its SHA-256")
    return out.set(Status.INGESTED) if out.status == Status.STORED else out


def finalize(outs: list[Outcome], settings: Settings, run_day: str) -> list[Outcome]:
    """Move verified files (ingested or duplicate), audited together, out of the inbox, in this
    process; a file that cannot be moved says so (``finalize_failed``) and the others go on. The
    run's log names the files moved."""
    moved = []
    for out in outs:
        try:
            moved.append(move_out(out, settings, run_day))
        except Exception as exc:  # noqa: BLE001 (that file stays in the inbox, and the run says why)
            moved.append(_failed(out, "finalize", exc))
    gone = [o.file for o in moved if o.status != Status.FAILED]
    if gone:
        get_run_logger().info("moved out of the inbox: %s", ", ".join(gone))
    return moved


def move_out(out: Outcome, settings: Settings, run_day: str) -> Outcome:
    """Move one verified file out of the inbox (to ``processed/<day>``)."""
    if out.status not in (Status.INGESTED, Status.DUPLICATE):
        return out
    progress.step(out.file, "finalize")
    intake.move_out(out, settings.processed / run_day)
    fault("finalize.after_move")
    progress.done(out.file, out.status.value)
    return out


@task(name="quarantine", cache_policy=NO_CACHE)
def quarantine_task(out: Outcome, settings: Settings) -> Outcome:
    """Move a bad file to quarantine with a JSON reason; never delete it."""
    intake.quarantine(out, settings.quarantine)
    progress.done(out.file, Status.QUARANTINED.value)
    return out


def audit(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    """Append outcome events to the tamper-evident audit log, one segment, before the files leave
    the inbox; then mark each record audited in its history (a rerun after a crash between the
    two writes the events again rather than never). Runs in the flow's own process, the one
    appender of the run (records/audit.py), with two retries (:data:`AUDIT_RETRIES`)."""
    return retrying("audit", len(AUDIT_RETRIES), AUDIT_RETRIES)(_append_outcomes, outcomes, settings, user)


def _append_outcomes(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    events = [e for out in outcomes for e in _audit_events(out, user)]
    if not events:
        return 0
    store = open_store(settings)
    open_audit(settings, store).append_many(events)
    for out in outcomes:
        if out.status == Status.INGESTED:
            note_event(store, out.sha256, DONE, user=user, detail={"file": out.file},
                       retain_until=_parse_time(out.stored["retain_until"]))
    fault("ingest.after_outcome")
    return len(events)


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _audit_events(out: Outcome, user: str) -> list[dict[str, Any]]:
    sha = out.sha256
    if out.status == Status.INGESTED and out.stored:
        stored = out.stored
        return [
            {"kind": "ingested", "user": user, "record": sha, "detail": {"file": out.file}},
            {"kind": "stored", "user": user, "record": sha,
             "detail": {"key": stored["key"], "version_id": stored.get("version_id"), "retain_until": stored["retain_until"]}},
            {"kind": "verified", "user": user, "record": sha, "detail": {"ok": True, "key": stored["key"]}},
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


# -- the steps of the flow ---------------------------------------------------------------------
def _failed(out: Outcome, step: str, exc: Any) -> Outcome:
    if isinstance(exc, StepFailed):  # the second step of a two-step task: name it, say its error
        step, exc = exc.step, exc.error
    if type(exc).__name__ == "KilledWorker":  # Dask gave up on a task whose workers kept dying
        return out.model_copy().set(Status.FAILED, "worker_lost", f"{step} of {out.file} failed: the worker "
                                    f"running it died ({exc}); the file stays in the inbox")
    why = str(exc) if isinstance(exc, (StorageError, OSError)) else type(exc).__name__ + (f": {exc}" if str(exc) else "")
    return out.model_copy().set(Status.FAILED, f"{step}_failed", f"{step} of {out.file} failed: {why}; the file stays in the inbox")


def validate_and_probe(ready: list[Path], inbox: Path, settings: Settings) -> list[Outcome]:
    """Validate, then probe and hash, every file (one ``intake`` task each). A file whose task
    still fails (an error, not bad input; or its worker died) gets the outcome ``probe_failed``
    (or ``worker_lost``), stays in the inbox, and the others go on."""
    if not ready:
        return []
    results = intake_task.map([str(p) for p in ready], inbox=unmapped(str(inbox)),
                              settings=unmapped(settings)).result(raise_on_failure=False)
    return [r if isinstance(r, Outcome) else _failed(Outcome(file=p.relative_to(inbox).as_posix(), path=str(p)), "probe", r)
            for p, r in zip(ready, results)]


def take_in(ready: list[Path], inbox: Path, settings: Settings, store: ObjectStore) -> Batch:
    """Validate, probe and hash every ready file (the cheap barrier), then sort them into new
    records, duplicates and bad input."""
    for p in ready:
        progress.started(p.relative_to(inbox).as_posix(), len(STEPS))
    probed = validate_and_probe(ready, inbox, settings)
    for out in probed:
        progress.step(out.file, "probe")

    def stored_copy(sha256: str) -> dict[str, Any] | None:
        manifest = find_manifest(store, sha256)
        return manifest.stored.model_dump(mode="json") if manifest else None

    batch = intake.sort_batch(probed, stored_copy)
    for out in batch.stored:
        if not has_event(store, out.sha256, DONE):
            # committed by a run that died before its audit events: finish it as this run's own
            out.set(Status.STORED, "completed", "stored by an interrupted run; its outcome is recorded now")
    return batch


def group_sessions(new: list[Outcome], settings: Settings) -> tuple[list[Session], dict[str, QCResult]]:
    """The sessions the new recordings belong to, joined by recordings stored in earlier runs
    (a camera docked twice a day is one session), with the earlier ones' decode results."""
    if not new:
        return [], {}
    recordings = [o.recording for o in new]
    earlier = earlier_recordings_task(recordings, settings)
    sessions = segment_task(recordings + [r for r, _ in earlier], settings)
    names = {r.name for r in recordings}
    mine = [s for s in sessions if any(r.name in names for r in s.recordings)]
    return mine, {r.path: q for r, q in earlier if q is not None}


def _on_done(future: Any, action: Callable[[], None]) -> None:
    """Run ``action`` in this process when ``future`` finishes (progress bars; never fails the run)."""
    try:
        future.add_done_callback(lambda _f: action())
    except Exception:  # noqa: BLE001 (a runner without callbacks: no progress, same result)
        pass


@dataclass
class Chain:
    """The futures of one file's chain, in order: a failure is explained by the first that failed."""

    out: Outcome
    steps: list[tuple[str, Any]]  # (step name, future)

    @property
    def last(self) -> Any:
        return self.steps[-1][1]

    def outcome(self) -> Outcome:
        """The file's outcome: the last step's, else the failure of the first step that failed."""
        for name, future in self.steps:
            try:
                state = future.state
            except Exception as exc:  # noqa: BLE001 (its worker died and Dask gave up: KilledWorker)
                return _failed(self.out, name, exc)
            if state.is_failed() or state.is_crashed():
                return _failed(self.out, name, _exception(future))
            early = _value(future) if state.is_completed() else None
            early = early.out if isinstance(early, Preserved) else early
            if isinstance(early, Outcome) and early.status == Status.FAILED:
                return early  # the first step that failed says why (a later one only followed it)
        result = _value(self.last)
        if isinstance(result, Preserved):
            return result.out
        return result if isinstance(result, Outcome) else _failed(self.out, self.steps[-1][0], result)


def _exception(future: Any) -> BaseException:
    try:
        result = future.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001
        return exc
    return result if isinstance(result, BaseException) else RuntimeError(str(result))


def _value(future: Any) -> Any:
    try:
        return future.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 (an unfinished upstream: the chain's earlier step says why)
        return exc


def submit_chains(new: list[Outcome], sessions: list[Session], earlier: dict[str, QCResult],
                  settings: Settings, run: str) -> tuple[list[Chain], dict[str, Any]]:
    """Submit every new file's chain at once: preserve -> (its session's rules) -> commit -> verify.

    Futures, not results, go from step to step, so each file moves on as soon as what it needs is
    done; the only join is a session's rules, which wait for the decode passes of that session's
    files (``preserve`` never fails, so one bad file does not hold back its session). Returns the
    chains and the gap-document futures by session id.
    """
    committing = commit_task.with_options(retries=settings.ingest.store_retries,
                                          retry_delay_seconds=settings.ingest.retry_delays_s)
    groups = _by_session(new, sessions)
    # every decode pass first, session by session: a submission costs the flow process tens of
    # milliseconds (Prefect serialises its context for each), and the workers start on the first
    # pass while the rest are submitted, not after the whole run's chains
    preserved: dict[str, Any] = {}
    for s, files in groups:
        # where the session's rules read speech: there, and only there, the speech detector listens
        listen = listening_windows(s.recordings, s.gaps, settings.gaps) if s is not None else {}
        for out in files:
            preserved[out.file] = preserve_task.submit(out, s.id if s else None, settings, run,
                                                       listen.get(out.recording.path))
            progress.step(out.file, "qc")
            _on_done(preserved[out.file], lambda f=out.file: progress.step(f, "archive"))
    chains, docs = [], {}
    # then each session's rules and commits, with a higher Dask priority than any decode pass:
    # once ready, they go before any pass not yet started, so a session is stored and verified
    # while the next one is decoded (pipelining)
    with dask.annotate(priority=FINISH_FIRST):
        for s, files in groups:
            doc = None
            if s is not None:
                paths = {r.path for r in s.recordings}
                doc = docs[s.id] = gaps_task.submit(s, [preserved[o.file] for o in files],
                                                    {p: q for p, q in earlier.items() if p in paths}, settings)
            for out in files:
                committed = committing.submit(preserved[out.file], doc, s, settings, run)  # and verified
                steps = [("preserve", preserved[out.file]), *([("gaps", doc)] if doc else []), ("store", committed)]
                chains.append(Chain(out, steps))
    return chains, docs


def _by_session(new: list[Outcome], sessions: list[Session]) -> list[tuple[Session | None, list[Outcome]]]:
    """The new files grouped by session, sessions in time order (files of no session last)."""
    groups: list[tuple[Session | None, list[Outcome]]] = []
    left = list(new)
    for s in sorted(sessions, key=lambda s: (s.start, s.id)):
        names = {r.name for r in s.recordings}
        mine = [o for o in left if o.recording.name in names]
        left = [o for o in left if o.recording.name not in names]
        groups.append((s, mine))
    if left:
        groups.append((None, left))
    return groups


def finish_as_verified(chains: list[Chain], batch: Batch, settings: Settings, user: str,
                       after_batch: Callable[[], None] | None = None) -> tuple[list[Outcome], list[Outcome]]:
    """As files are verified (in the order they finish): audit them, in this process, then move
    them, and their in-run twins, out of the inbox. Outcomes that stay in the inbox (failed) are
    returned to be audited once, at the end, with the bad input: only a file that leaves the inbox
    must be audited first. ``after_batch`` runs after each group (the session reports that are
    ready). Returns (finished, staying)."""
    finished: list[Outcome] = []
    staying: list[Outcome] = []
    twins = list(batch.twins)
    day = today(settings)
    for done in completed_batches([c.last for c in chains]):
        outs = [c.outcome() for c in chains if c.last in done]
        ready_twins = pair_twins(outs, twins)
        twins = [t for t in twins if t not in ready_twins]
        moving = [o for o in outs + ready_twins if o.status in (Status.INGESTED, Status.DUPLICATE)]
        staying += [o for o in outs + ready_twins if o not in moving]
        if moving:
            audit(moving, settings, user)  # before any of them leaves the inbox
            for out in finalize(moving, settings, day):
                if out.status == Status.FAILED:
                    get_run_logger().error("%s: %s (left in the inbox)", out.file, out.message)
                finished.append(out)
        if after_batch is not None:
            after_batch()
    for out in staying:
        get_run_logger().error("%s: %s (left in the inbox)", out.file, out.message)
    return finished, staying + twins


def completed_batches(futures: list[Any]) -> Iterator[set[Any]]:
    """The futures as they finish, in groups: all that are done whenever one more is."""
    import distributed

    if not futures:
        return
    wrapped = {getattr(f, "wrapped_future", None): f for f in futures}
    if None in wrapped:  # not on Dask (a test calling the flow with another runner)
        yield set(futures)
        return
    first = next(iter(wrapped))
    for group in distributed.as_completed(list(wrapped), loop=first.client.loop).batches():
        yield {wrapped[w] for w in group}


def pair_twins(verified: list[Outcome], twins: list[Outcome]) -> list[Outcome]:
    """In-run twins whose first file was verified: they leave the inbox with it."""
    done = {o.sha256: o for o in verified if o.status in (Status.INGESTED, Status.DUPLICATE)}
    ready = []
    for twin in twins:
        if twin.sha256 in done:
            twin.stored = done[twin.sha256].stored
            ready.append(twin)
    return ready


# -- the flow ----------------------------------------------------------------------------------
@flow(name="footage-ingest", log_prints=False)
def ingest_flow(inbox: str | None = None, runner: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ingest every settled file in the inbox; returns the run's summary (the ``--json`` document).

    ``runner`` describes the cluster the tasks run on (:meth:`flows.runner.Cluster.describe`), for
    the report; a scheduled run without it describes its task runner itself.
    """
    settings = load_settings()
    settings.ensure_layout()
    store = open_store(settings)
    user = acting_user(None)
    require_action(settings, user, "ingest", store)
    box = Path(inbox) if inbox else settings.inbox
    if not box.is_dir():
        raise FileNotFoundError(f"inbox {box} does not exist or is not a folder")

    ready, busy = discover(box, settings.ingest.settle_seconds)
    get_run_logger().info("inbox %s: %d file(s) ready, %d still being written", box, len(ready), len(busy))
    leases = InboxLeases(box, settings.ingest.lease_ttl_s)
    try:
        ready, leased = lease_files(leases, ready, box)
        summary = ingest_files(ready, box, settings, store, user, leases.run)
    finally:
        leases.release_all()
    summary["still_writing"] = [p.relative_to(box).as_posix() for p in busy] + summary["still_writing"]
    summary["leased"] = leased
    summary["hidden"] = intake.hidden_files(box)
    summary["flow_run"] = str(current_flow_run.id) if current_flow_run.id else None
    summary["runner"] = runner_summary(runner or {"mode": "dask" if settings.runner.address else "embedded",
                                                  "address": settings.runner.address, "workers": None, "at_start": []},
                                       settings, summary)
    return publish_report(settings, store, summary)


def lease_files(leases: InboxLeases, ready: list[Path], box: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The ready files this run may take; those another run holds are left to it, and said so."""
    mine, theirs, gone = [], [], []
    for path in ready:
        rel = path.relative_to(box).as_posix()
        holder = leases.acquire(rel)
        if holder is not None:
            theirs.append({"file": rel, "run": holder.get("run"), "host": holder.get("host")})
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


def ingest_files(ready: list[Path], box: Path, settings: Settings, store: ObjectStore, user: str, run: str) -> dict[str, Any]:
    """Every step after discovery, for the files this run holds; returns the run's summary."""
    batch = take_in(ready, box, settings, store)
    sessions, earlier = group_sessions(batch.new, settings)

    chains, docs = submit_chains(batch.new, sessions, earlier, settings, run)
    for out in batch.stored:  # stored by an earlier run: verified again before they leave
        chains.append(Chain(out, [("verify", verify_task.submit(out, settings))]))
    reports = SessionReports(sessions, docs, settings)
    finished, staying = finish_as_verified(chains, batch, settings, user, after_batch=reports.write_ready)
    for out in batch.bad:
        intake.plan_quarantine(out, settings.quarantine)
    audit(staying + batch.bad + batch.failed, settings, user)  # before bad input leaves the inbox
    quarantined = [quarantine_task(out, settings) for out in batch.bad]

    gap_doc = reports.document()
    for out in batch.waiting:
        get_run_logger().warning("%s: %s", out.file, out.message)
    outcomes = finished + staying + quarantined + batch.failed
    return build_summary(outcomes, sessions, busy=[o.file for o in batch.waiting], gap_doc=gap_doc)


class SessionReports:
    """Each session's gap report, written here as soon as its rules are done (while the files of
    later sessions are still decoded), and the run's gap document, joined at the end.

    The drawing library is loaded in a thread meanwhile, so that neither costs the run's tail.
    A report that cannot be written early is written again at the end, where its error fails
    the run as before (after every file was finished).
    """

    def __init__(self, sessions: list[Session], docs: dict[str, Any], settings: Settings):
        self.sessions, self.docs, self.settings = sessions, docs, settings
        self.parts: dict[str, Any] = {}  # session id -> its gap document (or why it has none)
        self.warm = threading.Thread(target=_load_drawing, name="footage-draw", daemon=True) if sessions else None
        if self.warm is not None:
            self.warm.start()

    def write_ready(self) -> None:
        """Write the reports of the sessions whose rules are done (never fails the run here)."""
        for s in self.sessions:
            if s.id not in self.parts and _done(self.docs[s.id]):
                try:
                    self._write(s)
                except Exception:  # noqa: BLE001 (written again, and failing, in document())
                    self.parts.pop(s.id, None)

    def _write(self, s: Session) -> None:
        part = self.parts[s.id] = _value(self.docs[s.id])
        if isinstance(part, dict):
            if self.warm is not None:
                self.warm.join()
            write_session_reports(self.settings.reports / today(self.settings) / "gaps", [s], part,
                                  tz=self.settings.time.timezone)

    def document(self) -> dict[str, Any] | None:
        """The sessions' gap documents joined into the run's (their reports written)."""
        if not self.sessions:
            return None
        doc: dict[str, Any] = {"sessions": [], "events": [], "errors": []}
        for s in self.sessions:
            if s.id not in self.parts:
                self._write(s)
            part = self.parts[s.id]
            if not isinstance(part, dict):  # its rules failed (the store down): its files say so
                doc["errors"].append({"session": s.id, "error": f"{type(part).__name__}: {part}"})
                continue
            for k in doc:
                doc[k] += part.get(k, [])
        return doc


def _load_drawing() -> None:
    """Import matplotlib and register the CJK font (what the first timeline would wait for)."""
    try:
        import matplotlib.figure  # noqa: F401

        from reports.fonts import cjk_font

        cjk_font()
    except Exception:  # noqa: BLE001 (the report itself will say what is wrong)
        pass


def _done(future: Any) -> bool:
    """Whether a task's future has finished, without asking Prefect's API."""
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and hasattr(wrapped, "done"):
        return wrapped.done()
    try:
        return future.state.is_final()
    except Exception:  # noqa: BLE001
        return False


def publish_report(settings: Settings, store: ObjectStore, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's summary with the deadlines, written as the day's report and shown in the UI."""
    deadlines = deadline_report(settings, store)
    summary["deadlines"] = deadlines.to_dict()
    md = write_ingest_report(settings, summary, deadlines)
    create_markdown_artifact(key="footage-ingest-report", markdown=md, description="Footage ingest report")
    return summary


# -- running it once ---------------------------------------------------------------------------
def run_ingest(inbox: Path | None = None, concurrency: int | None = None) -> dict[str, Any]:
    """Run the flow once on the configured runner (``[runner]``); ``concurrency`` overrides the
    embedded cluster's worker processes."""
    settings = load_settings()
    if concurrency:
        settings.runner.workers = concurrency
    look = look_early(inbox or settings.inbox, settings.ingest.settle_seconds)  # settles while the cluster starts
    run_dir = settings.home / "run"
    for pid in stop_orphaned_servers(run_dir):
        print(f"stopped the temporary Prefect server (pid {pid}) of a run that was killed", file=sys.stderr)
    for left in clean_scratch(settings.scratch_root):
        print(f"removed scratch left by a killed run: {left}", file=sys.stderr)
    note = None
    os.environ["FOOTAGE_RUN_PID"] = str(os.getpid())  # a crash point in a worker kills the run (storage/faults.py)
    try:
        with task_runner(settings) as cluster:
            runner = ingest_flow.with_options(task_runner=cluster.runner)
            note = note_temporary_server(run_dir)
            summary = runner(inbox=str(inbox) if inbox else None, runner=cluster.describe())
    except Exception as exc:  # the run as a whole failed (storage down before any file): say so, keep going
        summary = error_summary(exc)
        try:
            write_ingest_report(settings, summary)
        except OSError:
            pass  # the report folder itself is unwritable: the JSON still says what happened
    finally:
        os.environ.pop("FOOTAGE_RUN_PID", None)
        forget(look)  # not taken: the run failed before its flow looked
    forget_temporary_server(note)
    return summary


def runner_summary(described: dict[str, Any], settings: Settings, summary: dict[str, Any]) -> dict[str, Any]:
    """Where the run's tasks ran, and the workers it lost on the way (distributed mode)."""
    out = {k: described.get(k) for k in ("mode", "address", "workers")}
    out["processes"] = sorted({s["worker"] for s in summary.get("stored", []) if s.get("worker")})
    now = live_workers(settings) if described.get("at_start") else None
    out["workers_lost"] = sorted(set(described["at_start"]) - set(now)) if now is not None else []
    if out["workers_lost"]:
        get_run_logger().warning("workers lost during the run: %s (Dask ran their tasks again elsewhere)",
                                 ", ".join(out["workers_lost"]))
    return out
