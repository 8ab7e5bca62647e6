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
import shutil
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from storage import ObjectStore

from records.history import events_of_kind, note_event
from records.intake import FileStamp, Outcome
from records.keys import safe_part

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

    file: str  # relative to the inbox it came from
    name: str  # its name in processed/<day>/
    sha256: str
    stamp: FileStamp


def _note_path(inbox: Path, file: str) -> Path:
    return inbox / NOTES / (safe_part(file.replace("/", "__")) + ".json")


def note_growth(inbox: Path, out: Outcome) -> GrowthNote:
    """The file of ``out`` grew after its first part was stored: note which record that part is."""
    note = GrowthNote(file=out.file, sha256=out.sha256, size=out.stamp.size if out.stamp else out.recording.size)
    path = _note_path(inbox, out.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(note.model_dump_json())
    os.replace(tmp, path)
    return note


def growth_note(inbox: Path, file: str) -> GrowthNote | None:
    try:
        return GrowthNote.model_validate_json(_note_path(inbox, file).read_text())
    except (OSError, ValueError):
        return None


def stamp_moved(out: Outcome, dest: Path) -> None:
    """Write the stamp of a file just moved to ``dest`` (in ``processed/<day>/``)."""
    if out.stamp is None or out.sha256 is None:
        return
    folder = dest.parent / STAMPS
    folder.mkdir(parents=True, exist_ok=True)
    body = MovedStamp(file=out.file, name=dest.name, sha256=out.sha256, stamp=out.stamp)
    (folder / (dest.name + ".json")).write_text(body.model_dump_json())


def reclaim(processed: Path, inbox: Path, today: date, days: int = RECLAIM_DAYS) -> list[str]:
    """Files of the last ``days`` processed folders that changed after they were stored (a writer
    that finished into the moved file) go back into the inbox, to be stored whole; returns their
    inbox paths. A stamp whose file is gone (an operator cleared processed/) is dropped."""
    back = []
    for d in range(days):
        folder = processed / (today - timedelta(days=d)).isoformat() / STAMPS
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                moved = MovedStamp.model_validate_json(path.read_text())
            except (OSError, ValueError):
                continue
            src = folder.parent / moved.name
            try:
                unchanged = FileStamp.of(src) == moved.stamp
            except FileNotFoundError:
                path.unlink(missing_ok=True)
                continue
            if unchanged:
                continue
            dest = inbox / moved.file
            if dest.exists():  # the same name arrived again: keep both
                dest = dest.with_name(f"{dest.stem}.grown{dest.suffix}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            note = GrowthNote(file=dest.relative_to(inbox).as_posix(), sha256=moved.sha256, size=moved.stamp.size)
            notes = _note_path(inbox, note.file)
            notes.parent.mkdir(parents=True, exist_ok=True)
            notes.write_text(note.model_dump_json())
            shutil.move(str(src), dest)
            path.unlink(missing_ok=True)
            back.append(note.file)
    return back


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
    """The whole of a file that grew is stored as ``out``: when its growth note names a first
    part that is a prefix of it, note ``superseded``/``supersedes`` in both histories. The note
    goes either way; returns it when the records were linked."""
    note = growth_note(inbox, out.file)
    if note is None or note.sha256 == out.sha256:
        return None
    linked = prefix_sha256(out.path, note.size) == note.sha256
    if linked:
        until = out.stored.retain_until if out.stored else None
        note_event(store, note.sha256, SUPERSEDED, user=user, retain_until=until,
                   detail={"by": out.sha256, "file": out.file, "size": note.size})
        note_event(store, out.sha256, SUPERSEDES, user=user, retain_until=until,
                   detail={"record": note.sha256, "file": out.file, "size": note.size})
    _note_path(inbox, out.file).unlink(missing_ok=True)
    return note if linked else None


def supersession(store: ObjectStore, sha256: str) -> dict[str, list[str]]:
    """What a record's history says of growth: ``superseded_by`` and ``supersedes`` record ids."""
    return {"superseded_by": [e["detail"]["by"] for e in events_of_kind(store, sha256, SUPERSEDED)],
            "supersedes": [e["detail"]["record"] for e in events_of_kind(store, sha256, SUPERSEDES)]}
