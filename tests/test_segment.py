"""Sessions per device, gaps inside a session, overlaps, and the session break."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from media.model import Recording, TimeSource
from media.segment import SegmentSettings, segment

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def rec(name: str, device: str, offset: float, duration: float) -> Recording:
    return Recording(
        path=name, name=name, size=1, sha256=name, container="mp4", duration=duration,
        start=T0 + timedelta(seconds=offset), start_source=TimeSource.FILENAME, device_id=device,
    )


def test_chained_files_make_one_session_without_gaps():
    recs = [rec("a1", "A", 0, 600), rec("a2", "A", 600.5, 600), rec("a3", "A", 1201.9, 600)]
    (s,) = segment(reversed(recs))
    assert [r.name for r in s.recordings] == ["a1", "a2", "a3"]
    assert s.gaps == [] and s.events == []


def test_gap_overlap_and_new_session():
    recs = [
        rec("a1", "A", 0, 60),
        rec("a2", "A", 100, 60),  # 40 s gap
        rec("a3", "A", 150, 60),  # starts 10 s before a2 ends
        rec("a4", "A", 210 + 31 * 60, 60),  # beyond the 30 min break: new session
        rec("b1", "B", 0, 60),
    ]
    sessions = segment(recs, SegmentSettings())
    assert [(s.device, len(s.recordings)) for s in sessions] == [("A", 3), ("A", 1), ("B", 1)]
    first = sessions[0]
    (gap,) = first.gaps
    assert gap.seconds == 40 and gap.before == "a1" and gap.after == "a2"
    (ov,) = first.events
    assert ov.kind == "overlap" and ov.file == "a3" and ov.detail["seconds"] == 10


def test_tolerance_and_break_are_configurable():
    recs = [rec("a1", "A", 0, 60), rec("a2", "A", 63, 60), rec("a3", "A", 60 + 63 + 700, 60)]
    (only,) = segment(recs)  # 700 s is below the default 30 min break
    assert [g.seconds for g in only.gaps] == [3, 700]  # 3 s is above the default 2 s tolerance
    sessions = segment(recs, SegmentSettings(chain_tolerance_s=5, session_break_s=600))
    assert len(sessions) == 2 and sessions[0].gaps == []
