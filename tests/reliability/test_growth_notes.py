"""records.growth on real files: what a file moved to processed/ comes back with, and what it never
does (overwrite a file, come back unchanged, leave its sidecar behind). The runs themselves are in
test_grown_uploads.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from records import growth, intake

DAY = date(2026, 11, 20)


def moved_file(tmp: Path, inbox: Path, processed: Path, name: str, data: bytes, sidecar: bytes | None = None):
    """A file hashed in ``inbox`` and moved to processed/<DAY>/ by the ingest's own steps."""
    inbox.mkdir(parents=True, exist_ok=True)
    src = inbox / name
    src.write_bytes(data)
    if sidecar is not None:
        (inbox / (name + ".json")).write_bytes(sidecar)
    out = intake.Outcome(file=name, path=str(src), stamp=intake.FileStamp.of(src),
                         recording=None).model_copy(update={"status": intake.Status.INGESTED})
    out = out.model_copy(update={"recording": _recording(name, data)})
    moved = intake.move_out(out, processed / DAY.isoformat())
    growth.stamp_moved(moved, Path(moved.moved_to), inbox)
    return Path(moved.moved_to)


def _recording(name: str, data: bytes):
    from datetime import datetime, timezone

    from media.model import Recording

    return Recording(path=name, name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     container="mpegts", streams=[], duration=1.0, start=datetime(2026, 11, 20, tzinfo=timezone.utc),
                     start_source="filename", device_id="CAM-1")


def test_an_unchanged_file_stays_in_processed_even_on_another_file_system(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    inbox = Path(tempfile.mkdtemp(dir=shm))  # the inbox on one file system, processed/ on another
    try:
        processed = tmp_path / "processed"
        dest = moved_file(tmp_path, inbox, processed, "CAM-1_a.ts", b"x" * 4000)
        assert growth.reclaim(processed, inbox, DAY) == ([], [])
        assert dest.exists() and not (inbox / "CAM-1_a.ts").exists()
    finally:
        shutil.rmtree(inbox)


def test_a_grown_file_comes_back_with_its_sidecar_and_overwrites_nothing(tmp_path):
    inbox, processed = tmp_path / "inbox", tmp_path / "processed"
    first = b"a" * 4000
    dest = moved_file(tmp_path, inbox, processed, "CAM-1_b.ts", first, sidecar=b'{"category": "evidence"}')
    with open(dest, "ab") as fh:
        fh.write(b"b" * 4000)
    # meanwhile two other files took the names it would come back under
    (inbox / "CAM-1_b.ts").write_bytes(b"another recording")
    (inbox / "CAM-1_b.1.ts").write_bytes(b"and another")

    back, problems = growth.reclaim(processed, inbox, DAY)
    assert problems == []
    (item,) = back
    assert item.sha256 == hashlib.sha256(first).hexdigest()
    returned = inbox / item.file
    assert returned.name not in ("CAM-1_b.ts", "CAM-1_b.1.ts")
    assert returned.read_bytes() == first + b"b" * 4000
    assert (inbox / "CAM-1_b.ts").read_bytes() == b"another recording"  # nothing overwritten
    assert (inbox / "CAM-1_b.1.ts").read_bytes() == b"and another"
    assert (returned.parent / (returned.name + ".json")).read_bytes() == b'{"category": "evidence"}'
    note = growth.growth_note(inbox, item.file)
    assert note is not None and note.sha256 == item.sha256 and note.size == len(first)
    assert growth.reclaim(processed, inbox, DAY) == ([], [])  # its stamp is used up: it comes back once


def test_a_stamp_of_another_inbox_or_a_cleared_file_is_left_alone(tmp_path):
    inbox, processed = tmp_path / "inbox", tmp_path / "processed"
    dest = moved_file(tmp_path, inbox, processed, "CAM-1_c.ts", b"c" * 1000)
    with open(dest, "ab") as fh:
        fh.write(b"more")
    other = tmp_path / "other-inbox"
    other.mkdir()
    assert growth.reclaim(processed, other, DAY) == ([], [])  # not that inbox's file
    assert dest.exists()
    dest.unlink()  # an operator cleared processed/
    assert growth.reclaim(processed, inbox, DAY) == ([], [])
    assert not list((processed / DAY.isoformat() / growth.STAMPS).glob("*"))
