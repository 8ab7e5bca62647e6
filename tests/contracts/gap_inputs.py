"""A fixed input for the gap document's contract tests: two sessions (one on Beijing time, one on
UTC), the findings of their decode passes, a written explanation, unreadable files.

The expected outputs under ``expected/`` were written by the code before the gap document was a
model (commit d4b6568), on exactly this input: see ``make_expected.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from media.gaps.qc import QCResult
from media.gaps.settings import GapSettings
from media.model import Event, Recording, TimeSource
from media.segment import segment

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)
T1 = datetime(2026, 11, 20, 6, 30, 0, 250000, tzinfo=timezone.utc)


def _rec(device: str, name: str, start: datetime, duration: float, events=()) -> Recording:
    return Recording(path=f"/inbox/{name}", name=name, size=1000, sha256=name.encode().hex().ljust(64, "0")[:64],
                     container="mp4", duration=duration, start=start, start_source=TimeSource.FILENAME,
                     device_id=device, officer_id="P0042" if device == "CAM1" else None, events=list(events))


def sessions():
    """CAM1: a.mp4 and b.mp4 chained, a 100 s gap, c.mp4, then d.mp4 overlapping c.mp4 (not
    decoded); CAM2: one recording whose start came from its mtime, with an extra field."""
    weak = Event(kind="weak_start_time", file="e.mp4", device="CAM2",
                 detail={"message": "start time taken from the file's modification time minus its duration"},
                 legacy_note="kept from an older manifest")
    recs = [
        _rec("CAM1", "a.mp4", T0, 60.0),
        _rec("CAM1", "b.mp4", T0 + timedelta(seconds=60), 60.0),
        _rec("CAM1", "c.mp4", T0 + timedelta(seconds=220), 80.0),
        _rec("CAM1", "d.mp4", T0 + timedelta(seconds=290), 30.0,
             [Event(kind="discontinuity", file="d.mp4", start=3.5, end=9.25, detail={"stream": 0, "jump_s": 5.75})]),
        _rec("CAM2", "e.mp4", T1, 45.5, [weak]),
    ]
    return segment(recs)


def qc():
    """The decode passes: CAM1's first three files and CAM2's file (d.mp4 was not decoded)."""
    def ev(kind, start, end, **detail):
        return Event(kind=kind, start=start, end=end, rule=GapSettings().rule(kind), detail=detail)

    a = QCResult(path="/inbox/a.mp4", duration=60.0, has_video=True, has_audio=True, events=[
        ev("speech_window", 0.0, 60.0, detector="vad", reason="opening"),
        ev("speech", 2.0, 11.5, detector="vad"),
        ev("black", 20.0, 24.0, detector="BlackDetector", seconds=4.0, luma=12.5),
        Event(kind="marker", start=30.0, end=30.0,
              detail={"detector": "chapters", "source": "chapter", "id": 1, "title": "到达现场", "metadata": {"title": "到达现场"}}),
        Event(kind="marker", detail={"detector": "tags", "source": "tag", "value": "SOS"}),
    ])
    b = QCResult(path="/inbox/b.mp4", duration=60.0, has_video=True, has_audio=True, events=[
        ev("freeze", 5.0, 9.0, detector="FreezeDetector", seconds=4.0),
        ev("silence", 40.0, 55.5, detector="SilenceDetector", seconds=15.5, db=None),
    ])
    c = QCResult(path="/inbox/c.mp4", duration=80.0, has_video=True, has_audio=True, events=[
        ev("speech_window", 0.0, 30.0, detector="vad", reason="resume"),
        ev("audio_dropout", 50.0, 50.75, detector="AudioDropoutDetector", seconds=0.75),
    ])
    e = QCResult(path="/inbox/e.mp4", duration=45.5, has_video=True, has_audio=False, events=[
        Event(kind="no_audio", start=0.0, end=45.5, rule=GapSettings().rule("no_audio"),
              detail={"detector": "streams", "streams": ["video"], "audio_stream": False}),
    ])
    return {r.path: r for r in (a, b, c, e)}


def explanations(sessions):
    """The CAM1 gap explained in writing, as :func:`records.explanations.load_explanations`
    reads it back (the stored object's keys sorted, then ``key``)."""
    s = sessions[0]
    gap = s.gaps[0]
    body = {"at": "2026-11-20T03:15:00.123456+00:00", "by": "P0042", "gap": gap.id, "session": s.id,
            "supersedes": None, "text": "更换电池"}
    return {s.id: {gap.id: {**body, "key": f"explanations/{s.id}/{gap.id}/20261120T031500123456Z.json"}}}


ERRORS = [
    {"file": "/inbox/x.txt", "reason": "not_media", "message": "not a media file"},
    {"file": "/inbox/y.mp4", "reason": "decode failed: invalid data"},
]
