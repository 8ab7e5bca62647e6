"""Article 20 and 21 checks on recordings, gaps and speech segments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from media.gaps.session import (
    check_interruptions,
    check_opening_statement,
    check_session,
    resume_id,
    resumes,
    session_speech,
)
from media.gaps.settings import GapSettings
from media.model import Event, Gap, Recording, Session, TimeSource

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def rec(name: str, start_s: float, duration: float, events=()) -> Recording:
    return Recording(
        path=f"/inbox/{name}", name=name, size=1, sha256="0" * 64, container="mp4",
        duration=duration, start=T0 + timedelta(seconds=start_s), start_source=TimeSource.CONTAINER,
        device_id="CAM1", events=list(events),
    )


def gap(before: Recording, after: Recording) -> Gap:
    return Gap(device="CAM1", session="s1", start=before.end, end=after.start, before=before.name, after=after.name)


@pytest.mark.parametrize(
    "speech, missing",
    [
        ([(3.0, 10.0)], False),  # a proper statement
        ([(28.0, 34.0)], False),  # starts just in time
        ([(35.0, 50.0)], True),  # starts too late
        ([(5.0, 8.0)], True),  # only 3 s
        ([(5.0, 7.0), (7.5, 9.0), (20.0, 22.0)], False),  # 5.5 s in pieces
        ([], True),
    ],
)
def test_opening_statement(speech, missing):
    r = rec("a.mp4", 0, 120)
    events = check_opening_statement([r], {r.path: speech})
    assert bool(events) is missing
    if missing:
        (e,) = events
        assert e.kind == "missing_opening_statement" and e.rule == "第二十条"
        assert e.file == r.path and e.device == "CAM1" and e.start == 0.0 and e.at == r.start


def test_opening_statement_runs_on_into_the_next_file():
    a, b = rec("a.mp4", 0, 20), rec("b.mp4", 20, 60)
    speech = {a.name: [(16.0, 20.0)], b.path: [(0.0, 3.0)]}  # by name or by path
    assert session_speech([b, a], speech) == [(16.0, 23.0)]
    assert check_opening_statement([b, a], speech) == []


def test_opening_statement_thresholds_and_explanation():
    r = rec("a.mp4", 0, 120)
    speech = {r.path: [(40.0, 50.0)]}
    assert check_opening_statement([r], speech, GapSettings(opening_within=45)) == []
    assert check_opening_statement([r], speech, explained={"opening"}) == []


def test_unexplained_interruption_after_a_gap():
    a, b, c = rec("a.mp4", 0, 60), rec("b.mp4", 100, 60), rec("c.mp4", 200, 60)
    gaps = [gap(a, b), gap(b, c)]
    speech = {a.path: [(1, 10)], b.path: [(12.0, 20.0)], c.path: [(31.0, 40.0)]}
    events = check_interruptions([a, b, c], gaps, speech)
    (e,) = events  # b resumed with speech after 12 s; c only after 31 s
    assert e.kind == "unexplained_interruption" and e.rule == "第二十一条"
    assert e.file == c.path and e.start == 0.0 and e.at == c.start
    assert e.detail["id"] == gaps[1].id and e.detail["cause"] == "gap"
    assert abs(e.detail["interruption_seconds"] - 40.0) < 1e-6
    assert check_interruptions([a, b, c], gaps, speech, explained={gaps[1].id}) == []


def test_in_file_stop_needs_speech_too():
    stop = Event(kind="discontinuity", start=30.0, end=45.0)
    small = Event(kind="dropped_frames", start=50.0, end=50.5)  # under stop_min_duration
    r = rec("a.mp4", 0, 120, [stop, small])
    speech = {r.path: [(2.0, 12.0), (80.0, 90.0)]}
    (e,) = check_interruptions([r], [], speech)
    assert e.start == 45.0 and e.detail["cause"] == "discontinuity"
    assert e.detail["id"] == resume_id(r.start + timedelta(seconds=45))
    assert check_interruptions([r], [], {r.path: [(2.0, 12.0), (60.0, 70.0)]}) == []
    # stops found by the decode pass count as well
    qc = {r.path: [Event(kind="dropped_frames", start=95.0, end=99.0)]}
    assert [x.offset for x in resumes([r], [], file_events=qc)] == [45.0, 99.0]


def test_check_session_on_a_session_object():
    a, b = rec("a.mp4", 0, 60), rec("b.mp4", 120, 60)
    session = Session(id="s1", device="CAM1", recordings=[a, b], gaps=[gap(a, b)])
    kinds = [e.kind for e in check_session(session, {})]
    assert kinds == ["missing_opening_statement", "unexplained_interruption"]
    speech = {a.path: [(0.0, 8.0)], b.path: [(5.0, 9.0)]}
    assert check_session(session, speech) == []
