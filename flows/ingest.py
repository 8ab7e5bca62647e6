"""The nightly ingest flow.

Reads top to bottom as the night's work::

    discover -> validate + probe (per file) -> sort: new / already stored / twins / bad
      -> sessions (with recordings stored by earlier runs) -> decode checks (per file)
      -> session rules and gap reports -> archive master + access copy (per file)
      -> store original, derivatives, manifest (per file) -> verify every stored copy (per file)
      -> move out of the inbox (per file) / quarantine bad input (per file)
      -> audit log -> ingest report

Each per-file step is its own mapped task run, so the Prefect UI shows one run per file per
step. The pure work of every step lives in :mod:`records` (intake, manifest, findings) and
:mod:`media`; the tasks here add retries, logging and progress. Nothing leaves the inbox before
its stored copies have been streamed back and verified; a rerun over the same inbox stores
nothing twice (records are keyed by SHA-256).
"""

from __future__ import annotations

import errno
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from media.gaps.qc import QCResult, analyse
from media.model import Event, Recording, Session
from media.segment import segment
from storage import ObjectStore, StorageError
from storage.faults import fault

from flows import progress
from flows.archive import archive_task
from flows.runtime import forget_temporary_server, note_temporary_server, stop_orphaned_servers
from records import intake
from records.audit import open_audit
from records.deadlines import deadline_report
from records.derivatives import ArchiveOutputs
from records.explanations import load_explanations
from records.findings import document as gaps_document
from records.findings import findings_of
from records.history import events_of_kind, has_event, note_event
from records.intake import Batch, Outcome, Status
from records.lease import InboxLeases
from records.scratch import claim_scratch, clean_scratch, release_scratch
from records.keys import derivative_key, key_suffix, manifest_key, original_key, originals_prefix, safe_part, sha256_of_original
from records.manifest import build_manifest, find_manifest
from records.retention import retain_until
from records.roles import acting_user, require_action
from records.settings import Settings, load_settings, today
from records.store import open_store
from reports.gaps import write_session_reports
from reports.ingest import build_summary, error_summary, write_ingest_report

STEPS = ("validate", "probe", "qc", "archive", "store", "verify", "finalize")
#: record-history kinds of the commit protocol (docs/reliability.md)
INTENT = "ingest_intent"  # before the first put: the original's key
DONE = "ingest_audited"  # after the run's outcome events are in the audit log


# -- per-file tasks --------------------------------------------------------------------------
@task(name="validate", cache_policy=NO_CACHE)
def validate_task(path: str, inbox: str) -> Outcome:
    out = intake.validate(Path(path), Path(inbox))
    progress.started(out.file, len(STEPS))
    progress.step(out.file, "validate")
    return out


@task(name="probe", cache_policy=NO_CACHE)
def probe_task(out: Outcome, settings: Settings) -> Outcome:
    if out.status == Status.PENDING:
        progress.step(out.file, "probe")
    return intake.identify(out, settings)


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


@task(name="qc", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def qc_task(out: Outcome, settings: Settings) -> QCResult | None:
    """One decode pass over the file: black, freeze, silence, dropouts, dropped frames, speech."""
    progress.step(out.file, "qc")
    try:
        return analyse(out.path, settings.gaps, recording=out.recording)
    except Exception as exc:  # probed fine but does not decode to the end: keep it, report it
        get_run_logger().warning("%s: decode check failed (%s); stored without it", out.file, exc)
        out.recording.events.append(Event(kind="qc_failed", file=out.recording.name, detail={"error": str(exc)}))
        return None


@task(name="gaps", cache_policy=NO_CACHE)
def gaps_task(sessions: list[Session], qc: dict[str, QCResult], settings: Settings, day: str) -> dict[str, Any]:
    """Apply the session rules (articles 20 and 21) and write each session's gaps report."""
    store = open_store(settings)
    explanations = load_explanations(store, [s.id for s in sessions])
    doc = gaps_document(sessions, qc, settings.gaps, explanations)
    write_session_reports(settings.reports / day / "gaps", sessions, doc, tz=settings.time.timezone)
    return doc


@task(name="store", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20])
def store_task(
    out: Outcome,
    session: Session | None,
    qc: QCResult | None,
    archive: ArchiveOutputs | None,
    findings: list[dict[str, Any]],
    settings: Settings,
) -> Outcome:
    """Store the original, its derivatives and, last, its manifest (the commit point).

    An intent in the record's history comes first and names the original's key: a rerun after a
    crash reuses that key even when a sidecar that appeared since names another device.
    """
    rec = out.recording
    progress.step(out.file, "store")
    store = open_store(settings)
    existing = find_manifest(store, rec.sha256)
    if existing is not None:  # committed by an earlier attempt or a parallel run
        out.stored = existing.stored.model_dump(mode="json")
        return out.set(Status.DUPLICATE, "already stored")
    until = retain_until(rec.start, out.categories, settings.storage)
    mode = settings.storage.mode
    intents = events_of_kind(store, rec.sha256, INTENT)
    if intents:
        key = intents[0]["detail"]["key"]
    else:
        key = original_key(rec.sha256, rec.device_id, rec.start, key_suffix(rec.name))
        note_event(store, rec.sha256, INTENT, user="footage", detail={"key": key, "file": out.file},
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
    manifest = build_manifest(
        rec, out.stored, session=session, qc=qc, categories=out.categories, case=out.case, findings=findings,
        archive={**archive.manifest(), "stored": [_public(d) for d in out.derivatives]} if archive else None,
    )
    store.put(manifest_key(rec.sha256), manifest.to_json(), retain_until=until, mode=mode, content_type="application/json")
    fault("store.after_manifest")
    return out.set(Status.STORED)


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


@task(name="verify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def verify_task(out: Outcome, settings: Settings) -> Outcome:
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


@task(name="finalize", cache_policy=NO_CACHE)
def finalize_task(out: Outcome, settings: Settings, run_day: str) -> Outcome:
    """Move a verified file (ingested or duplicate) out of the inbox."""
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


@task(name="audit", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def audit_task(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    """Append this run's outcome events to the tamper-evident audit log, one segment, before any
    file leaves the inbox; then mark each record audited in its history (a rerun after a crash
    between the two writes the events again rather than never)."""
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
def _each(step, items: list, **kwargs) -> list:
    """Run ``step`` once per item as mapped task runs and wait for them (nothing to do: nothing run)."""
    if not items:
        return []
    return step.map(items, **{k: unmapped(v) for k, v in kwargs.items()}).result()


def _each_file(step, outcomes: list[Outcome], **kwargs) -> list[Outcome]:
    """:func:`_each` over outcomes, where a step that still fails after its retries (storage
    down, a file that vanished) makes that file's outcome ``failed``, left in the inbox, and the
    others go on."""
    if not outcomes:
        return []
    results = step.map(outcomes, **{k: unmapped(v) for k, v in kwargs.items()}).result(raise_on_failure=False)
    return [r if isinstance(r, Outcome) else _failed(o, step.name, r) for o, r in zip(outcomes, results)]


def _failed(out: Outcome, step: str, exc: Any) -> Outcome:
    why = str(exc) if isinstance(exc, (StorageError, OSError)) else type(exc).__name__ + (f": {exc}" if str(exc) else "")
    return out.model_copy().set(Status.FAILED, f"{step}_failed", f"{step} of {out.file} failed: {why}; the file stays in the inbox")


def take_in(ready: list[Path], inbox: Path, settings: Settings, store: ObjectStore) -> Batch:
    """Validate and probe every ready file, then sort them into new records, duplicates and bad input."""
    checked = _each(validate_task, [str(p) for p in ready], inbox=str(inbox))
    probed = _each_file(probe_task, checked, settings=settings)

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


def check_recordings(new: list[Outcome], settings: Settings) -> dict[str, QCResult]:
    """One decode pass per new recording (the gap checks); path -> result."""
    if not settings.ingest.qc:
        return {}
    results = _each(qc_task, new, settings=settings)
    return {o.recording.path: r for o, r in zip(new, results) if r is not None}


def archive_recordings(
    new: list[Outcome], session_of: dict[str, Session], settings: Settings, scratch: Path
) -> list[ArchiveOutputs | None]:
    """Master and access copy per new recording. A file that cannot be archived is stored without
    them (an ``archive_failed`` event says why); an I/O failure of the machine (a full scratch
    disk) makes the file's outcome ``failed`` instead, and it stays in the inbox."""
    if not new or not settings.ingest.archive:
        return [None] * len(new)
    results = archive_task.map(
        [o.recording for o in new],
        [o.path for o in new],
        unmapped(str(scratch)),
        settings=unmapped(settings.archive),
        session_id=[session_of[o.recording.name].id if o.recording.name in session_of else None for o in new],
    ).result(raise_on_failure=False)
    outputs: list[ArchiveOutputs | None] = []
    for out, result in zip(new, results):
        if _machine_fault(result):
            # the machine's fault (scratch disk full, say), not the file's: keep it for the next run
            out.set(Status.FAILED, "archive_failed", f"making the archive copies of {out.file} failed: {result}; "
                    "the file stays in the inbox")
            result = None
        elif not isinstance(result, ArchiveOutputs):
            get_run_logger().warning("%s: archive formats failed (%s); the original is stored without them", out.file, result)
            out.recording.events.append(Event(kind="archive_failed", file=out.recording.name, detail={"error": str(result)}))
            result = None
        outputs.append(result)
    return outputs


#: errors of the machine, not of the file being archived
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM}


def _machine_fault(exc: Any) -> bool:
    """Whether ``exc`` (or what caused it: ArchiveError wraps the OSError) is a machine's I/O fault."""
    seen = 0
    while isinstance(exc, BaseException) and seen < 5:
        if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def store_records(
    new: list[Outcome],
    session_of: dict[str, Session],
    qc: dict[str, QCResult],
    archived: list[ArchiveOutputs | None],
    gap_doc: dict[str, Any] | None,
    settings: Settings,
) -> list[Outcome]:
    """Store every new record; one that still fails after its retries stays in the inbox, failed."""
    if not new:
        return []
    storing = store_task.with_options(retries=settings.ingest.store_retries, retry_delay_seconds=settings.ingest.retry_delays_s)
    results = storing.map(
        new,
        session=[session_of.get(o.recording.name) for o in new],
        qc=[qc.get(o.recording.path) for o in new],
        archive=archived,
        findings=[findings_of(gap_doc, o.recording.path) if gap_doc else [] for o in new],
        settings=unmapped(settings),
    ).result(raise_on_failure=False)
    return [r if isinstance(r, Outcome) else _failed(o, "store", r) for o, r in zip(new, results)]


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
def ingest_flow(inbox: str | None = None) -> dict[str, Any]:
    """Ingest every settled file in the inbox; returns the run's summary (the ``--json`` document)."""
    settings = load_settings()
    settings.ensure_layout()
    note_temporary_server(settings.home / "run")  # so that a run after a kill -9 can stop it
    store = open_store(settings)
    user = acting_user(None)
    require_action(settings, user, "ingest", store)
    box = Path(inbox) if inbox else settings.inbox
    if not box.is_dir():
        raise FileNotFoundError(f"inbox {box} does not exist or is not a folder")

    ready, busy = intake.discover(box, settings.ingest.settle_seconds)
    get_run_logger().info("inbox %s: %d file(s) ready, %d still being written", box, len(ready), len(busy))
    leases = InboxLeases(box, settings.ingest.lease_ttl_s)
    scratch_root = settings.home / "work" / "archive"
    for left in clean_scratch(scratch_root):
        get_run_logger().warning("removed scratch left by a killed run: %s", left)
    scratch = claim_scratch(scratch_root, leases.run)
    try:
        ready, leased = lease_files(leases, ready, box)
        summary = ingest_files(ready, box, settings, store, user, scratch)
    finally:
        leases.release_all()
        release_scratch(scratch)
    summary["still_writing"] = [p.relative_to(box).as_posix() for p in busy] + summary["still_writing"]
    summary["leased"] = leased
    summary["hidden"] = intake.hidden_files(box)
    return publish_report(settings, store, summary)


def lease_files(leases: InboxLeases, ready: list[Path], box: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The ready files this run may take; those another run holds are left to it, and said so."""
    mine, theirs = [], []
    for path in ready:
        rel = path.relative_to(box).as_posix()
        holder = leases.acquire(rel)
        if holder is None:
            mine.append(path)
        else:
            theirs.append({"file": rel, "run": holder.get("run"), "host": holder.get("host")})
    if theirs:
        get_run_logger().warning("%d file(s) are being ingested by another run; left to it", len(theirs))
    return mine, theirs


def ingest_files(
    ready: list[Path], box: Path, settings: Settings, store: ObjectStore, user: str, scratch: Path
) -> dict[str, Any]:
    """Every step after discovery, for the files this run holds; returns the run's summary."""
    batch = take_in(ready, box, settings, store)

    sessions, qc = group_sessions(batch.new, settings)
    new_names = {o.recording.name for o in batch.new}
    session_of = {r.name: s for s in sessions for r in s.recordings if r.name in new_names}
    qc.update(check_recordings(batch.new, settings))
    gap_doc = gaps_task(sessions, qc, settings, today(settings)) if sessions else None
    archived = archive_recordings(batch.new, session_of, settings, scratch)
    keep = [i for i, o in enumerate(batch.new) if o.status == Status.PENDING]
    batch.failed += [o for o in batch.new if o.status == Status.FAILED]

    stored = store_records([batch.new[i] for i in keep], session_of, qc, [archived[i] for i in keep], gap_doc, settings)
    verified = _each_file(verify_task, stored + batch.stored, settings=settings)
    ready_twins = pair_twins(verified, batch.twins)
    for out in batch.bad:
        intake.plan_quarantine(out, settings.quarantine)
    audit_task(verified + batch.twins + batch.bad + batch.failed, settings, user)  # before anything leaves the inbox

    finished = _each_file(finalize_task, verified + ready_twins, settings=settings, run_day=today(settings))
    quarantined = _each_file(quarantine_task, batch.bad, settings=settings)
    for out in finished:
        if out.status == Status.FAILED:
            get_run_logger().error("%s: %s (left in the inbox)", out.file, out.message)

    outcomes = finished + [t for t in batch.twins if t not in ready_twins] + quarantined + batch.failed
    for out in batch.waiting:
        get_run_logger().warning("%s: %s", out.file, out.message)
    return build_summary(outcomes, sessions, busy=[o.file for o in batch.waiting], gap_doc=gap_doc)


def publish_report(settings: Settings, store: ObjectStore, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's summary with the deadlines, written as the day's report and shown in the UI."""
    deadlines = deadline_report(settings, store)
    summary["deadlines"] = deadlines.to_dict()
    md = write_ingest_report(settings, summary, deadlines)
    create_markdown_artifact(key="footage-ingest-report", markdown=md, description="Footage ingest report")
    return summary


# -- running it once ---------------------------------------------------------------------------
def run_ingest(inbox: Path | None = None, concurrency: int | None = None) -> dict[str, Any]:
    """Run the flow once, with the configured bound on concurrent tasks."""
    settings = load_settings()
    for pid in stop_orphaned_servers(settings.home / "run"):
        print(f"stopped the temporary Prefect server (pid {pid}) of a run that was killed", file=sys.stderr)
    workers = concurrency or settings.ingest.concurrency
    runner = ingest_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    try:
        summary = runner(inbox=str(inbox) if inbox else None)
    except Exception as exc:  # the run as a whole failed (storage down before any file): say so, keep going
        summary = error_summary(exc)
        try:
            write_ingest_report(settings, summary)
        except OSError:
            pass  # the report folder itself is unwritable: the JSON still says what happened
    settle_ephemeral_server()
    forget_temporary_server(settings.home / "run" / f"prefect-server.{os.getpid()}.json")
    return summary


def settle_ephemeral_server(seconds: float = 3.0) -> None:
    """Give Prefect's temporary server time to record the last task-run events.

    With no PREFECT_API_URL, Prefect runs a temporary server inside this process and stops it at
    exit; task runs are recorded from events in the background, and stopping the server while a
    batch is in flight logs a cancelled flush. A short pause lets the batch land first.
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        time.sleep(seconds)
