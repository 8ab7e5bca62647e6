"""Intake: what one inbox file becomes.

The pure steps of the ingest flow, each a plain function on paths, outcomes and settings:

* :func:`discover` finds the files ready to ingest (two looks; files still growing wait);
* :func:`validate` refuses what is not a regular, sanely named, non-empty file;
* :func:`identify` probes a file into a :class:`media.model.Recording` (:func:`probe_file`, also
  used by ``footage gaps check``);
* :func:`sort_batch` sorts a run's outcomes into new records, duplicates and bad input;
* :func:`move_out` / :func:`quarantine` take a finished file out of the inbox, sidecars with it.

An :class:`Outcome` carries one file through the steps; its :class:`Status` says where it stands.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from media.model import CameraKind, Recording
from media.probe import Limits, MediaError, check_name, probe
from media.timeinfo import identify as identify_time

from records.keys import safe_part
from records.manifest import StoredObject


class Status(str, Enum):
    """Where one inbox file stands (a ``str`` enum: it compares equal to its value)."""

    PENDING = "pending"  # still on its way through the steps
    STORED = "stored"  # stored, not verified yet
    INGESTED = "ingested"  # stored, verified, moved to processed/
    DUPLICATE = "duplicate"  # its content is already stored, or stored by another file of the run
    QUARANTINED = "quarantined"  # bad input, moved to quarantine/ with a reason
    FAILED = "failed"  # an infrastructure failure: left in the inbox for the next run
    WAITING = "waiting"  # an upload that stalled half-way: left in the inbox, quarantined when too old


class FileStamp(BaseModel):
    """What a file was when it was hashed: its size and modification time. A file that leaves the
    inbox must still be that file (:func:`changed_since_hashed`). Not its inode or device: a
    worker on another host sees another device number for the same NFS file, and a move to
    another file system gives a new inode, while size and mtime travel with the file."""

    model_config = ConfigDict(frozen=True)

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path | str) -> "FileStamp":
        st = os.stat(path, follow_symlinks=False)
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns)


class Outcome(BaseModel):
    """What happened to one inbox file.

    Frozen: each step returns a new outcome (:meth:`set`, ``model_copy(update=...)``), so that a
    task never changes what it was given (a retried or recomputed task starts from the same input).
    """

    model_config = ConfigDict(frozen=True)

    file: str  # path relative to the inbox
    path: str
    status: Status = Status.PENDING
    reason: str | None = None
    message: str | None = None
    recording: Recording | None = None
    categories: list[str] = Field(default_factory=list)
    case: str | None = None
    stored: StoredObject | None = None  # where the original is
    derivatives: list[StoredObject] = Field(default_factory=list)  # archive master, access copy
    moved_to: str | None = None
    worker: str | None = None  # host:pid of the process that decoded and stored it
    stamp: FileStamp | None = None  # the file as it was hashed

    @property
    def sha256(self) -> str | None:
        return self.recording.sha256 if self.recording else None

    def set(self, status: Status, reason: str | None = None, message: str | None = None) -> "Outcome":
        """A copy with this status, reason and message."""
        return self.model_copy(update={"status": status, "reason": reason, "message": message})


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


def hidden_files(inbox: Path, skip: tuple[str, ...] = (".footage-leases", ".footage-grown")) -> list[str]:
    """What sits in the inbox unseen by discovery and may be a recording, so that none stays there
    unnoticed: hidden files (names starting with a dot, or inside hidden folders; never ingested,
    partial uploads of rsync and the like are hidden: ``..X.MP4``), and folders named like a
    media file that hold no file to ingest (an upload that made ``X.MP4`` a folder), listed with a
    trailing slash (``X.MP4/``)."""
    found = []
    for root, dirs, files in os.walk(inbox, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        rel_root = Path(root).relative_to(inbox)
        hidden_root = any(part.startswith(".") for part in rel_root.parts)
        if not hidden_root and rel_root.suffix.lower() in MEDIA_SUFFIXES and not _holds_files(Path(root)):
            found.append(rel_root.as_posix() + "/")
        for name in sorted(files):
            if hidden_root or name.startswith("."):
                found.append((rel_root / name).as_posix())
    return found


def _holds_files(folder: Path) -> bool:
    """Whether ``folder`` holds a file discovery would look at (not hidden, not in a hidden folder)."""
    for _root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(not name.startswith(".") for name in files):
            return True
    return False


# -- one file --------------------------------------------------------------------------------
def validate(path: Path, inbox: Path) -> Outcome:
    """A new outcome for ``path``: pending, or quarantined when it is no regular, named, non-empty file."""
    rel = path.relative_to(inbox).as_posix()
    out = Outcome(file=rel, path=str(path))
    try:
        if path.is_symlink():
            raise MediaError("not_a_file", f"{path.name} is a symbolic link; only regular files are ingested")
        for part in Path(rel).parts:
            check_name(part)
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise MediaError("not_a_file", f"{path.name} is not a regular file (a FIFO, socket or device)")
        if st.st_size == 0:
            raise MediaError("empty", f"{path.name} is empty (0 bytes)")
    except MediaError as exc:
        return out.set(Status.QUARANTINED, exc.reason, exc.message)
    except OSError as exc:
        return out.set(*_os_failure(exc, rel))
    return out


def _os_failure(exc: OSError, file: str) -> tuple[Status, str, str]:
    """A file that vanished or cannot be read is no bad input: it stays (or stays gone) and the
    run says so, so that nothing is quarantined for a reason that is not the file's."""
    if isinstance(exc, FileNotFoundError):
        return Status.FAILED, "vanished", f"{file} disappeared from the inbox during the run"
    return Status.FAILED, "unreadable", f"{file} cannot be read ({exc.strerror or exc}); it stays in the inbox"


#: suffixes of the files cameras and docking stations upload: a partial one may still grow
MEDIA_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".mts", ".m2ts", ".ts", ".3gp", ".wav", ".mp3", ".aac", ".m4a"}
#: what a media file cut off by a stalled upload looks like to the probe
INCOMPLETE = {"empty", "truncated", "not_media", "corrupt", "empty_media"}


def wait_if_incomplete(out: Outcome, wait_s: float, now: float | None = None) -> Outcome:
    """A quarantined media file young enough to be a stalled upload waits for the next run."""
    if out.status != Status.QUARANTINED or out.reason not in INCOMPLETE:
        return out
    path = Path(out.path)
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        return out
    try:
        age = (now if now is not None else time.time()) - path.stat().st_mtime
    except OSError:
        return out
    if age < wait_s:
        return out.set(Status.WAITING, out.reason,
                       f"{out.message} - it may be an upload that stalled; it waits {wait_s - age:.0f} s more for the rest")
    return out


def recording_from_file(path: Path, settings, name: str | None = None) -> Recording:
    """Probe one file into a Recording (nothing is stored); see :func:`probe_file`."""
    return probe_file(path, settings, name)[0]


def probe_file(path: Path, settings, name: str | None = None) -> tuple[Recording, Any]:
    """Probe one file into a Recording, with what its name and sidecar said about it.

    Parameters
    ----------
    path : Path
        The file on local disk.
    settings : records.settings.Settings
        Limits, time-source order and the device lists come from here.
    name : str, optional
        The recording's ``path`` (default ``str(path)``): the ingest flow uses the path relative
        to the inbox.

    Returns
    -------
    recording : Recording
    identity : media.timeinfo.Identity
        Start, device, officer, retention categories and case from sidecar, container or name.

    Raises
    ------
    media.probe.MediaError
        The file is not usable media (its ``reason`` says why).
    ValueError
        A broken sidecar.
    """
    ing = settings.ingest
    limits = Limits(ing.max_width, ing.max_height, ing.max_duration_s, settings.segment.discontinuity_s)
    facts = probe(path, limits)
    who = identify_time(path, facts.tags, facts.duration, settings.time, path.stat().st_mtime)
    device = who.device or ing.default_device
    kind = who.camera_kind or (
        CameraKind.FIXED if device in ing.fixed_devices else CameraKind.BODY if device in ing.body_devices else CameraKind.UNKNOWN
    )
    recording = Recording(
        path=name or str(path), name=path.name, size=facts.size, sha256=facts.sha256, container=facts.container,
        streams=facts.streams, duration=facts.duration, start=who.start, start_source=who.source,
        device_id=device, officer_id=who.officer, camera_kind=kind, sequence=who.sequence,
        origin=str(path.parent), tags=facts.tags, chapters=facts.chapters,
        events=[e.model_copy(update={"device": device}) for e in facts.events + who.events],
    )
    return recording, who


def identify(out: Outcome, settings) -> Outcome:
    """Probe a pending outcome's file; bad media and broken sidecars are quarantined, except a
    young media file that looks cut off (a stalled upload), which waits for the next run."""
    if out.status != Status.PENDING:
        return wait_if_incomplete(out, settings.ingest.incomplete_wait_s)
    try:
        before = FileStamp.of(out.path)
        recording, who = probe_file(Path(out.path), settings, name=out.file)
        if FileStamp.of(out.path) != before:  # written to while it was hashed: not what was hashed
            return out.set(Status.WAITING, "still_growing",
                           f"{out.file} changed while it was read; it waits for the next run")
        out = out.model_copy(update={"recording": recording, "categories": list(who.categories), "case": who.case_id,
                                     "stamp": before})
    except MediaError as exc:
        if exc.reason == "unreadable":  # permission denied: not the file's fault, keep it
            out = out.set(Status.FAILED, exc.reason, f"{exc.message}; it stays in the inbox")
        else:
            out = out.set(Status.QUARANTINED, exc.reason, exc.message)
    except ValueError as exc:  # a broken sidecar
        out = out.set(Status.QUARANTINED, "bad_sidecar", str(exc))
    except OSError as exc:
        out = out.set(*_os_failure(exc, out.file))
    return wait_if_incomplete(out, settings.ingest.incomplete_wait_s)


# -- one run ---------------------------------------------------------------------------------
@dataclass
class Batch:
    """A run's probed files, sorted.

    ``new`` are stored by this run; ``stored`` were stored by an earlier run (their manifest's
    ``stored`` section is set); ``twins`` have the same content as another file of this run and
    leave the inbox once that one is verified; ``bad`` go to quarantine; ``failed`` could not be
    read (or vanished) and stay where they are; ``waiting`` are young incomplete media files (a
    stalled upload) left for the next run.
    """

    new: list[Outcome] = field(default_factory=list)
    stored: list[Outcome] = field(default_factory=list)
    twins: list[Outcome] = field(default_factory=list)
    bad: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    waiting: list[Outcome] = field(default_factory=list)


def sort_batch(outcomes: list[Outcome], stored_copy: Callable[[str], StoredObject | None]) -> Batch:
    """Sort probed outcomes; ``stored_copy(sha256)`` is where a stored record's original is, or None."""
    batch = Batch()
    first: dict[str, str] = {}
    for out in outcomes:
        if out.status == Status.QUARANTINED:
            batch.bad.append(out)
            continue
        if out.status == Status.FAILED:  # vanished or unreadable: reported, left where it is
            batch.failed.append(out)
            continue
        if out.status == Status.WAITING:
            batch.waiting.append(out)
            continue
        twin_of = first.setdefault(out.sha256, out.file)
        if twin_of != out.file:
            batch.twins.append(out.set(Status.DUPLICATE, f"same content as {twin_of}"))
            continue
        copy = stored_copy(out.sha256)
        if copy is not None:
            batch.stored.append(out.model_copy(update={"stored": copy}).set(Status.DUPLICATE, "already stored"))
        else:
            batch.new.append(out)
    return batch


# -- leaving the inbox -----------------------------------------------------------------------
def free_name(dest_dir: Path, name: str) -> Path:
    """``dest_dir / name``, or ``stem.N.suffix`` for the first N not taken."""
    return _free_name(dest_dir, name)


def _free_name(dest_dir: Path, name: str) -> Path:
    dest = dest_dir / name
    n = 1
    while dest.exists():
        dest = dest_dir / f"{Path(name).stem}.{n}{Path(name).suffix}"
        n += 1
    return dest


def _move(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():  # taken since it was planned
        dest = _free_name(dest.parent, dest.name)
    shutil.move(str(src), dest)
    return dest


def move_with_sidecars(src: Path, dest: Path) -> Path:
    """Move ``src`` to ``dest`` (a free name beside it if taken), its sidecar JSON with it
    (``dest.name + ".json"``); returns where it went. Never replaces a file."""
    return _move_with_sidecars(src, dest)


def _move_with_sidecars(src: Path, dest: Path) -> Path:
    dest = _move(src, dest)
    for side in (src.with_name(src.name + ".json"), src.with_suffix(".json")):
        if side.is_file() and side != src:
            _move(side, _free_name(dest.parent, dest.name + ".json"))
    return dest


def move_out(out: Outcome, processed_day: Path) -> Outcome:
    """Move a verified file (ingested or duplicate) to ``processed/<day>/``, sidecars with it."""
    name = safe_part(out.file.replace("/", "_"))
    dest = _move_with_sidecars(Path(out.path), _free_name(processed_day, name))
    return out.model_copy(update={"moved_to": str(dest)})


def plan_quarantine(out: Outcome, folder: Path) -> Outcome:
    """Choose where a bad file will go (``moved_to``), so the audit log can say so before it moves."""
    src = Path(out.path)
    name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{safe_part(src.name, 'unnamed')}"
    return out.model_copy(update={"moved_to": str(_free_name(folder, name)) if os.path.lexists(src) else None})


def quarantine(out: Outcome, folder: Path) -> Outcome:
    """Move a bad file to its planned place in ``folder`` with a ``.reason.json`` beside it;
    never delete it."""
    src = Path(out.path)
    if out.moved_to is None and os.path.lexists(src):
        out = plan_quarantine(out, folder)
    dest = _move_with_sidecars(src, Path(out.moved_to)) if out.moved_to and os.path.lexists(src) else None
    record = {
        "file": out.file,
        "original_name": src.name,
        "reason": out.reason,
        "message": out.message,
        "quarantined_at": datetime.now(timezone.utc).isoformat(),
        "moved_to": str(dest) if dest else None,
    }
    folder.mkdir(parents=True, exist_ok=True)
    stand_in = folder / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{safe_part(src.name, 'unnamed')}"
    reason_path = (dest or stand_in).with_name((dest or stand_in).name + ".reason.json")
    reason_path.write_text(json.dumps(record, ensure_ascii=False, indent=1))
    return out.model_copy(update={"moved_to": str(dest) if dest else None})


def changed_since_hashed(out: Outcome) -> bool:
    """Whether the file at ``out.path`` is no longer the one that was hashed (it grew, was
    rewritten or replaced): such a file must not leave the inbox as stored. A file that is gone
    has not changed: its move fails and says so."""
    if out.stamp is None:
        return False
    try:
        return FileStamp.of(out.path) != out.stamp
    except FileNotFoundError:
        return False
