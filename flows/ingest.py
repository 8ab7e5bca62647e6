"""The nightly ingest flow.

inbox -> validate -> probe+hash -> segment -> store original + manifest -> verify -> move to
``processed/``. Each per-file step is its own mapped task run, so the Prefect UI shows one run per
file per step. Bad files go to ``quarantine/`` with a JSON reason and the run goes on. Nothing is
moved or deleted before its stored copy has been streamed back and verified; a rerun over the same
inbox stores nothing twice (records are keyed by SHA-256).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from media.gaps.qc import QCResult, analyse
from media.model import Event, Recording, Session
from media.probe import MediaError, check_name
from media.segment import segment
from storage import StorageError

from flows import progress
from flows.archive import archive_task
from records.derivatives import ArchiveOutputs
from records.audit import open_audit
from records.deadlines import deadline_report
from records.settings import Settings, load_settings, today
from records.roles import acting_user, require_action
from records.keys import (
    derivative_key,
    key_suffix,
    manifest_key,
    original_key,
    originals_prefix,
    safe_part,
    sha256_of_original,
)
from records.manifest import load_manifest
from records.explanations import load_explanations
from records.intake import Outcome, probe_file
from reports.ingest import build_summary, write_ingest_report
from records.findings import document as gaps_document
from reports.gaps import write_session_reports
from records.retention import retain_until
from records.store import open_store

STEPS = ("validate", "probe", "qc", "archive", "store", "verify", "finalize")


# -- discovery -------------------------------------------------------------------------------
def _sidecar_of(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    stem = path.with_suffix("")
    return stem.exists() or any(p.is_file() for p in path.parent.glob(path.stem + ".*") if p != path)


def discover(inbox: Path, settle_seconds: float) -> tuple[list[Path], list[Path]]:
    """Files ready to ingest, and files still being written (size or mtime changed).

    Hidden files (partial uploads of rsync and the like) and sidecar JSON files are left alone.
    """
    def look() -> dict[Path, tuple[int, int]]:
        seen = {}
        for root, dirs, files in os.walk(inbox, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                p = Path(root) / name
                if name.startswith(".") or _sidecar_of(p):
                    continue
                try:
                    st = p.lstat()
                except OSError:
                    continue
                seen[p] = (st.st_size, st.st_mtime_ns)
        return seen

    first = look()
    if not first:
        return [], []
    time.sleep(settle_seconds)
    second = look()
    ready = [p for p, sig in first.items() if second.get(p) == sig]
    busy = [p for p in first if p not in ready and p.exists()]
    return sorted(ready), sorted(busy)


# -- per-file tasks --------------------------------------------------------------------------
@task(name="validate", cache_policy=NO_CACHE)
def validate_task(path: str, inbox: str) -> Outcome:
    p = Path(path)
    rel = p.relative_to(inbox).as_posix()
    out = Outcome(file=rel, path=path)
    progress.started(rel, len(STEPS))
    progress.step(rel, "validate")
    try:
        if p.is_symlink():
            raise MediaError("not_a_file", f"{p.name} is a symbolic link; only regular files are ingested")
        for part in Path(rel).parts:
            check_name(part)
        if p.stat().st_size == 0:
            raise MediaError("empty", f"{p.name} is empty (0 bytes)")
    except MediaError as exc:
        out.status, out.reason, out.message = "quarantined", exc.reason, exc.message
    return out


@task(name="probe", cache_policy=NO_CACHE)
def probe_task(out: Outcome, settings: Settings) -> Outcome:
    if out.status != "pending":
        return out
    progress.step(out.file, "probe")
    path = Path(out.path)
    try:
        out.recording, out.categories = probe_file(path, settings, name=out.file)
    except MediaError as exc:
        out.status, out.reason, out.message = "quarantined", exc.reason, exc.message
    except ValueError as exc:  # a broken sidecar
        out.status, out.reason, out.message = "quarantined", "bad_sidecar", str(exc)
    return out


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
    for device in sorted({r.device_id for r in recordings}):
        mine = [r for r in recordings if r.device_id == device]
        lo = min(r.start for r in mine) - margin
        hi = max(r.end for r in mine) + margin
        days = {(lo + timedelta(days=d)).astimezone(tz) for d in range((hi - lo).days + 2) for tz in (timezone.utc, ZoneInfo(settings.time.timezone))}
        prefixes = sorted({originals_prefix(device, day) for day in days})
        for prefix in prefixes:
            for info in store.list(prefix):
                sha = sha256_of_original(info.key)
                if sha in known or sha in found or not store.exists(manifest_key(sha)):
                    continue
                manifest = load_manifest(store, sha)
                rec = Recording.model_validate(manifest["recording"])
                if rec.end < lo or rec.start > hi:
                    continue
                qc = None
                if manifest.get("qc_stats") is not None:
                    qc = QCResult(
                        path=rec.path,
                        events=[Event.model_validate(e) for e in manifest.get("qc_events", [])],
                        duration=rec.duration,
                        has_video=rec.video is not None,
                        has_audio=rec.audio is not None,
                        stats=manifest["qc_stats"],
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
        return analyse(out.path, settings.gaps)
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
    write_session_reports(settings.reports / day / "gaps", sessions, doc)
    return doc


def _manifest(out: Outcome, session: Session | None, stored: dict[str, Any], qc: QCResult | None) -> dict[str, Any]:
    rec = out.recording
    assert rec is not None
    return {
        "schema": "footage.manifest/1",
        "sha256": rec.sha256,
        "recording": rec.model_dump(mode="json"),
        "session": session.id if session else None,
        "session_events": [e.model_dump(mode="json") for e in (session.events if session else []) if e.file == rec.name],
        "gaps": [
            {"start": g.start.isoformat(), "end": g.end.isoformat(), "seconds": g.seconds, "before": g.before, "after": g.after}
            for g in (session.gaps if session else [])
            if rec.name in (g.before, g.after)
        ],
        "qc_events": [e.model_dump(mode="json", exclude_none=True) for e in (qc.events if qc else [])],
        "qc_stats": qc.stats if qc else None,
        "categories": out.categories,
        "stored": stored,
        "ingested_at": datetime.now(timezone.utc).isoformat(),
    }


@task(name="store", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 5, 20])
def store_task(
    out: Outcome, session: Session | None, qc: QCResult | None, archive: ArchiveOutputs | None, settings: Settings
) -> Outcome:
    """Store the original and its manifest; a record already stored is a duplicate."""
    if out.status != "pending":
        return out
    rec = out.recording
    assert rec is not None
    progress.step(out.file, "store")
    store = open_store(settings)
    mkey = manifest_key(rec.sha256)
    if store.exists(mkey):
        manifest = load_manifest(store, rec.sha256)
        out.status, out.stored = "duplicate", manifest["stored"]
        return out
    until = retain_until(rec.start, out.categories, settings.storage)
    key = original_key(rec.sha256, rec.device_id, rec.start, key_suffix(rec.name))
    metadata = {
        "sha256": rec.sha256,
        "device": rec.device_id,
        "officer": rec.officer_id or "",
        "start": rec.start.isoformat(),
        "source-name": safe_part(rec.name),
    }
    info = store.put(
        key, Path(out.path), sha256=rec.sha256, metadata=metadata, retain_until=until, mode=settings.storage.mode
    )
    stored = {
        "key": key,
        "sha256": rec.sha256,
        "size": info.size,
        "retain_until": until.isoformat(),
        "mode": settings.storage.mode,
        "version_id": info.version_id,
        "backend": store.name,
    }
    out.derivatives = []
    for d in archive.derivatives() if archive else []:
        dkey = derivative_key(rec.sha256, d["kind"], d["suffix"])
        dinfo = store.put(
            dkey, Path(d["path"]), sha256=d["sha256"], metadata={"source-sha256": rec.sha256, "kind": d["kind"]},
            retain_until=until, mode=settings.storage.mode, content_type=d["content_type"],
        )
        out.derivatives.append(
            {"kind": d["kind"], "key": dkey, "sha256": d["sha256"], "size": d["size"], "action": d["action"],
             "version_id": dinfo.version_id, "work_path": d["path"]}
        )
    manifest = _manifest(out, session, stored, qc)
    if archive is not None:
        manifest["archive"] = {**archive.manifest(), "stored": [{k: v for k, v in d.items() if k != "work_path"} for d in out.derivatives]}
    body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    store.put(mkey, body, retain_until=until, mode=settings.storage.mode, content_type="application/json")
    out.status, out.stored = "stored", stored
    return out


@task(name="verify", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def verify_task(out: Outcome, settings: Settings) -> Outcome:
    """Stream the stored original back and re-hash it; only a verified record may leave the inbox."""
    if out.status not in ("stored", "duplicate"):
        return out
    progress.step(out.file, "verify")
    store = open_store(settings)
    assert out.stored is not None
    result = store.verify(out.stored["key"], out.stored["sha256"], version_id=out.stored.get("version_id"))
    bad = [] if result.ok else ["original"]
    bad += [d["kind"] for d in out.derivatives if not store.verify(d["key"], d["sha256"], version_id=d.get("version_id")).ok]
    if bad:
        out.status, out.reason = "failed", "verify_failed"
        out.message = f"stored copy of {out.file} ({', '.join(bad)}) is missing or does not match its SHA-256"
    elif out.status == "stored":
        out.status = "ingested"
    return out


def _move(src: Path, dest_dir: Path, name: str) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / name
    n = 1
    while dest.exists():
        dest = dest_dir / f"{Path(name).stem}.{n}{Path(name).suffix}"
        n += 1
    shutil.move(str(src), dest)
    return dest


def _move_with_sidecars(src: Path, dest_dir: Path, name: str) -> Path:
    dest = _move(src, dest_dir, name)
    for side in (src.with_name(src.name + ".json"), src.with_suffix(".json")):
        if side.is_file() and side != src:
            _move(side, dest_dir, dest.name + ".json")
    return dest


@task(name="finalize", cache_policy=NO_CACHE)
def finalize_task(out: Outcome, settings: Settings, run_day: str) -> Outcome:
    """Move a verified file (ingested or duplicate) out of the inbox."""
    if out.status not in ("ingested", "duplicate"):
        return out
    progress.step(out.file, "finalize")
    dest = _move_with_sidecars(Path(out.path), settings.processed / run_day, safe_part(out.file.replace("/", "_")))
    for d in out.derivatives:  # stored and verified: the work copies are no longer needed
        Path(d["work_path"]).unlink(missing_ok=True)
    out.moved_to = str(dest)
    progress.done(out.file, out.status)
    return out


@task(name="quarantine", cache_policy=NO_CACHE)
def quarantine_task(out: Outcome, settings: Settings) -> Outcome:
    """Move a bad file to quarantine with a JSON reason; never delete it."""
    src = Path(out.path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = f"{stamp}-{safe_part(src.name, 'unnamed')}"
    dest = _move_with_sidecars(src, settings.quarantine, name) if os.path.lexists(src) else None
    record = {
        "file": out.file,
        "original_name": src.name,
        "reason": out.reason,
        "message": out.message,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        "moved_to": str(dest) if dest else None,
    }
    reason_path = (dest or settings.quarantine / name).with_name((dest or Path(name)).name + ".reason.json")
    reason_path.write_text(json.dumps(record, ensure_ascii=False, indent=1))
    out.moved_to = str(dest) if dest else None
    progress.done(out.file, "quarantined")
    return out


# -- the flow ----------------------------------------------------------------------------------
@flow(name="footage-ingest", log_prints=False)
def ingest_flow(inbox: str | None = None) -> dict[str, Any]:
    """Ingest every settled file in the inbox; returns the run's summary (the ``--json`` document)."""
    settings = load_settings()
    settings.ensure_layout()
    logger = get_run_logger()
    user = acting_user(None)
    store = open_store(settings)
    require_action(settings, user, "ingest", store)
    box = Path(inbox) if inbox else settings.inbox
    if not box.is_dir():
        raise FileNotFoundError(f"inbox {box} does not exist or is not a folder")
    ready, busy = discover(box, settings.ingest.settle_seconds)
    logger.info("inbox %s: %d file(s) ready, %d still being written", box, len(ready), len(busy))

    checked = validate_task.map([str(p) for p in ready], inbox=unmapped(str(box))).result()
    probed = probe_task.map(checked, settings=unmapped(settings)).result()

    # duplicates inside this run: the first file with a hash is the one stored
    seen: dict[str, str] = {}
    for out in probed:
        if out.recording is not None:
            first = seen.setdefault(out.recording.sha256, out.file)
            if first != out.file:
                out.status, out.reason = "duplicate", f"same content as {first}"
    for out in probed:
        if out.status == "pending" and store.exists(manifest_key(out.recording.sha256)):
            manifest = load_manifest(store, out.recording.sha256)
            out.status, out.reason, out.stored = "duplicate", "already stored", manifest["stored"]
    already_stored = [o for o in probed if o.status == "duplicate" and o.stored]
    already_ids = {id(o) for o in already_stored}
    good = [o for o in probed if o.status == "pending"]
    # recordings stored by earlier runs may belong to the same sessions (a camera docked twice a day)
    earlier_recs = earlier_recordings_task([o.recording for o in good], settings) if good else []
    sessions = segment_task([o.recording for o in good] + [r for r, _ in earlier_recs], settings) if good else []
    new_names = {o.recording.name for o in good}
    sessions = [s for s in sessions if any(r.name in new_names for r in s.recordings)]
    session_of = {r.name: s for s in sessions for r in s.recordings if r.name in new_names}

    qc_results = qc_task.map(good, settings=unmapped(settings)).result() if good and settings.ingest.qc else []
    qc = {r.path: q for r, q in earlier_recs if q is not None}
    qc.update({o.recording.path: r for o, r in zip(good, qc_results) if r is not None})
    gap_doc = gaps_task(sessions, qc, settings, today(settings)) if sessions else None

    archived: list[Any] = [None] * len(good)
    if good and settings.ingest.archive:
        archived = archive_task.map(
            [o.recording for o in good],
            [o.path for o in good],
            unmapped(str(settings.home / "work" / "archive")),
            settings=unmapped(settings.archive),
            session_id=[session_of[o.recording.name].id if o.recording.name in session_of else None for o in good],
        ).result(raise_on_failure=False)
    for out, result in zip(good, archived):
        if result is not None and not isinstance(result, ArchiveOutputs):
            logger.warning("%s: archive formats failed (%s); the original is stored without them", out.file, result)
            out.recording.events.append(Event(kind="archive_failed", file=out.recording.name, detail={"error": str(result)}))
    archived = [r if isinstance(r, ArchiveOutputs) else None for r in archived]

    storing = store_task.with_options(
        retries=settings.ingest.store_retries, retry_delay_seconds=settings.ingest.retry_delays_s
    )
    stored = storing.map(
        good,
        session=[session_of.get(o.recording.name) for o in good],
        qc=[qc.get(o.recording.path) for o in good],
        archive=archived,
        settings=unmapped(settings),
    ).result(raise_on_failure=False) if good else []
    stored = [_settle(o, s) for o, s in zip(good, stored)]
    to_verify = stored + already_stored
    verified = verify_task.map(to_verify, settings=unmapped(settings)).result() if to_verify else []
    # an in-run duplicate is finished once its twin is verified
    twins = {
        o.recording.sha256: o for o in verified if o.recording is not None and o.status in ("ingested", "duplicate")
    }
    for out in probed:
        if out.status == "duplicate" and out.recording is not None and out.recording.sha256 in twins:
            out.stored = twins[out.recording.sha256].stored
    in_run_dups = [o for o in probed if o.status == "duplicate" and o.stored and id(o) not in already_ids]
    finals = finalize_task.map(verified + in_run_dups, settings=unmapped(settings), run_day=unmapped(today(settings))).result()

    bad = [o for o in probed if o.status == "quarantined"]
    quarantined = quarantine_task.map(bad, settings=unmapped(settings)).result() if bad else []
    failed = [o for o in finals if o.status == "failed"]
    for out in failed:
        logger.error("%s: %s (left in the inbox)", out.file, out.message)

    outcomes = finals + quarantined + [o for o in probed if o.status == "duplicate" and not o.stored]
    audit_task(outcomes, settings, user)
    summary = build_summary(outcomes, sessions, busy=[p.relative_to(box).as_posix() for p in busy], gap_doc=gap_doc)
    deadlines = deadline_report(settings, store)
    summary["deadlines"] = deadlines.to_dict()
    md = write_ingest_report(settings, summary, deadlines)
    create_markdown_artifact(key="footage-ingest-report", markdown=md, description="Footage ingest report")
    return summary


@task(name="audit", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def audit_task(outcomes: list[Outcome], settings: Settings, user: str) -> int:
    """Append this run's events to the tamper-evident audit log: one segment per run."""
    events: list[dict[str, Any]] = []
    for out in outcomes:
        sha = out.recording.sha256 if out.recording else None
        if out.status == "ingested" and out.stored:
            events += [
                {"kind": "ingested", "user": user, "record": sha, "detail": {"file": out.file}},
                {"kind": "stored", "user": user, "record": sha,
                 "detail": {"key": out.stored["key"], "version_id": out.stored.get("version_id"),
                            "retain_until": out.stored["retain_until"]}},
                {"kind": "verified", "user": user, "record": sha, "detail": {"ok": True, "key": out.stored["key"]}},
            ]
        elif out.status == "duplicate":
            events.append({"kind": "duplicate", "user": user, "record": sha, "detail": {"file": out.file}})
        elif out.status == "quarantined":
            events.append(
                {"kind": "quarantined", "user": user, "record": sha,
                 "detail": {"file": out.file, "reason": out.reason, "moved_to": out.moved_to}}
            )
        elif out.status == "failed":
            events.append({"kind": "ingest_failed", "user": user, "record": sha,
                           "detail": {"file": out.file, "reason": out.reason, "message": out.message}})
    if events:
        open_audit(settings, open_store(settings)).append_many(events)
    return len(events)


def _settle(out: Outcome, result: Any) -> Outcome:
    """A store task that failed after its retries leaves the file in the inbox, marked failed."""
    if isinstance(result, Outcome):
        return result
    failed = out.model_copy()
    failed.status, failed.reason = "failed", "store_failed"
    failed.message = f"storing {out.file} failed: {_describe(result)}; the file stays in the inbox"
    return failed


def _describe(exc: Any) -> str:
    if isinstance(exc, (StorageError, OSError)):
        return str(exc)
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def run_ingest(inbox: Path | None = None, concurrency: int | None = None) -> dict[str, Any]:
    """Run the flow once, with the configured bound on concurrent tasks."""
    settings = load_settings()
    workers = concurrency or settings.ingest.concurrency
    runner = ingest_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    summary = runner(inbox=str(inbox) if inbox else None)
    settle_ephemeral_server()
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
