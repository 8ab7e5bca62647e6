"""Recordings that grow after they were stored: kept whole, the first part superseded, nothing lost.

A docking station or share that writes a file straight into the inbox, and pauses longer than the
settle window, hands the run a file that later grows: an MPEG-TS (or any container that plays
when cut) probes fine half-written. The run stores that first part as a record of its own (it is
what was there, and it stays locked). Then:

* **Before it leaves the inbox** the file must still be what was hashed
  (:func:`records.intake.changed_since_hashed`): one that changed stays in the inbox, and a
  *growth note* (``<inbox>/.footage-grown/``) names the record of its first part.
* **After it left** (the writer still had it open and finished into the moved file) the stamp
  written beside it in ``processed/<day>/.footage-stamps/`` no longer matches: the next run moves
  it back into the inbox (:func:`reclaim`), with a growth note.
* **When the whole is stored** (:func:`supersede`): if the record named by the note is a prefix of
  the new file (its SHA-256 is that of the new file's first bytes: the file grew, nothing of it
  was rewritten), each record's history says so: ``superseded`` on the first part (by the
  whole), ``supersedes`` on the whole (the first part). Both records stay stored and locked.

The notes live beside the files they are about (the inbox and ``processed/`` are this machine's):
a note lost with a crash costs only the link between the two records, never a file.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from storage import ObjectStore

from records.history import events_of_kind, note_event
from records.intake import FileStamp, Outcome, free_name, move_with_sidecars
from records.keys import safe_part
from records.manifest import find_manifest

NOTES = ".footage-grown"  # in the inbox: which record a file's first part is
STAMPS = ".footage-stamps"  # in each processed/<day>/: what each moved file was when it was hashed
SUPERSEDED = "superseded"  # history kind, on the first part's record
SUPERSEDES = "supersedes"  # history kind, on the whole's record
GREW = "grew_after_store"  # history kind, on the first part's record, when the growth is seen
RECLAIM_DAYS = 2  # processed/ folders looked at again: today's and yesterday's


class GrowthNote(BaseModel):
    """A file of the inbox whose first part is stored as record ``sha256`` (``size`` bytes)."""

    model_config = ConfigDict(frozen=True)

    file: str  # relative to the inbox
    sha256: str
    size: int


class MovedStamp(BaseModel):
    """Beside a file moved to ``processed/``: where it came from and what it was when hashed."""

    model_config = ConfigDict(frozen=True)

    inbox: str  # the inbox it came from (resolved)
    file: str  # relative to that inbox
    name: str  # its name in processed/<day>/
    sha256: str
    stamp: FileStamp


class Reclaimed(BaseModel):
    """A file brought back into the inbox: it changed after its first part was stored."""

    model_config = ConfigDict(frozen=True)

    file: str  # its path in the inbox now
    sha256: str  # the record of the part stored before
    came_from: str  # where it was in processed/


def _note_path(inbox: Path, file: str) -> Path:
    return inbox / NOTES / (safe_part(file.replace("/", "__")) + ".json")


def _write_whole(path: Path, text: str) -> None:
    """Write ``path`` so that a reader sees it whole or not at all (a hidden temporary, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_note(inbox: Path, note: GrowthNote) -> None:
    path = _note_path(inbox, note.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(path, note.model_dump_json())


def note_growth(inbox: Path, out: Outcome) -> GrowthNote:
    """The file of ``out`` grew after its first part was stored: note which record that part is."""
    note = GrowthNote(file=out.file, sha256=out.sha256, size=out.stamp.size if out.stamp else out.recording.size)
    _write_note(inbox, note)
    return note


def growth_note(inbox: Path, file: str) -> GrowthNote | None:
    try:
        return GrowthNote.model_validate_json(_note_path(inbox, file).read_text())
    except (OSError, ValueError):
        return None


def stamp_moved(out: Outcome, dest: Path, inbox: Path) -> None:
    """Write the stamp of a file just moved from ``inbox`` to ``dest`` (in ``processed/<day>/``):
    what it was when it was hashed, so that a change after the move is seen (:func:`reclaim`)."""
    if out.stamp is None or out.sha256 is None:
        return
    folder = dest.parent / STAMPS
    folder.mkdir(parents=True, exist_ok=True)
    body = MovedStamp(inbox=str(inbox.resolve()), file=out.file, name=dest.name, sha256=out.sha256, stamp=out.stamp)
    _write_whole(folder / (dest.name + ".json"), body.model_dump_json())


def reclaim(processed: Path, inbox: Path, today: date, days: int = RECLAIM_DAYS) -> tuple[list[Reclaimed], list[str]]:
    """Files of the last ``days`` processed folders that changed after they were stored (a writer
    that finished into the moved file) go back into ``inbox``, with their sidecars, to be stored
    whole. Returns what came back, and the problems met (a stamp that could not be handled is
    left for the next run; the run goes on). Each stamp is claimed by a rename first, so two
    runs never bring the same file back twice."""
    back, problems = [], []
    for d in range(days):
        folder = processed / (today - timedelta(days=d)).isoformat() / STAMPS
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            claimed = path.with_name(path.name + ".claimed")
            try:
                os.rename(path, claimed)
            except OSError:
                continue  # another run took it
            try:
                item = _reclaim_one(claimed, inbox)
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: {type(exc).__name__}: {exc}")
                item = None
            if claimed.exists():
                os.rename(claimed, path)  # not reclaimed (unchanged, another inbox, or a problem): kept
            if item is not None:
                back.append(item)
    return back, problems


def _reclaim_one(claimed: Path, inbox: Path) -> Reclaimed | None:
    moved = MovedStamp.model_validate_json(claimed.read_text())
    if Path(moved.inbox) != inbox.resolve():
        return None  # it came from another inbox: that one's run brings it back
    src = claimed.parent.parent / moved.name
    if not src.exists():  # an operator cleared processed/: nothing to watch any more
        claimed.unlink()
        return None
    if FileStamp.of(src) == moved.stamp:
        return None
    target = (inbox / moved.file).resolve()
    if not target.is_relative_to(inbox.resolve()):
        raise ValueError(f"stamp names a path outside the inbox: {moved.file}")
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = move_with_sidecars(src, free_name(target.parent, target.name))
    rel = dest.relative_to(inbox.resolve()).as_posix()
    _write_note(inbox, GrowthNote(file=rel, sha256=moved.sha256, size=moved.stamp.size))
    claimed.unlink()
    return Reclaimed(file=rel, sha256=moved.sha256, came_from=str(src))


def prefix_sha256(path: Path | str, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of the file at ``path``."""
    digest = hashlib.sha256()
    left = size
    with open(path, "rb") as fh:
        while left > 0:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def supersede(store: ObjectStore, inbox: Path, out: Outcome, user: str) -> GrowthNote | None:
    """The whole of a file that grew is stored as ``out`` (ingested now, or found stored): when
    its growth note names a first part that is a prefix of it, note ``superseded``/``supersedes``
    in both histories, each once (a rerun after a crash in between adds only what is missing),
    under the longer of the two records' locks. The note goes either way; returns it when the
    records are linked, for the run's audit log."""
    note = growth_note(inbox, out.file)
    if note is None or note.sha256 == out.sha256:
        return None
    linked = prefix_sha256(out.path, note.size) == note.sha256
    if linked:
        first = find_manifest(store, note.sha256)
        untils = [u for u in (out.stored.retain_until if out.stored else None,
                              first.stored.retain_until if first else None) if u is not None]
        until = max(untils) if untils else None
        if not any(e["detail"].get("by") == out.sha256 for e in events_of_kind(store, note.sha256, SUPERSEDED)):
            note_event(store, note.sha256, SUPERSEDED, user=user, retain_until=until,
                       detail={"by": out.sha256, "file": out.file, "size": note.size})
        if not any(e["detail"].get("record") == note.sha256 for e in events_of_kind(store, out.sha256, SUPERSEDES)):
            note_event(store, out.sha256, SUPERSEDES, user=user, retain_until=until,
                       detail={"record": note.sha256, "file": out.file, "size": note.size})
    _note_path(inbox, out.file).unlink(missing_ok=True)
    return note if linked else None
