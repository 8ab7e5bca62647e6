"""The session gap report: times in the configured zone, and a timeline picture people can read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from matplotlib.colors import to_hex

from media.gaps.settings import GapSettings
from media.model import Recording, TimeSource
from media.segment import segment
from records.explanations import Explanation
from records.findings import GapDocument
from reports.gaps import length_label, markdown, timeline, timeline_figure, write_session_report

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing


def _recording(i: int, start: float, seconds: float) -> Recording:
    name = f"CAM1_P0042_{(T0 + timedelta(seconds=start)).astimezone():%Y%m%d%H%M%S}_{i:04d}.mp4"
    return Recording(path=f"/inbox/{name}", name=name, size=1, sha256=f"{i:064x}", container="mp4",
                     duration=seconds, start=T0 + timedelta(seconds=start), start_source=TimeSource.FILENAME,
                     device_id="CAM1", officer_id="P0042", sequence=i)


@pytest.fixture()
def chained_with_gap():
    """Three 6 s segments chained end to end (0-18 s), then a 40 s gap, then 6 s (58-64 s)."""
    (session,) = segment([_recording(1, 0, 6), _recording(2, 6, 6), _recording(3, 12, 6), _recording(4, 58, 6)])
    assert len(session.gaps) == 1
    return session


def _doc(session, explained: bool = False) -> GapDocument:
    notes = {}
    if explained:
        gap_id = session.gaps[0].id
        notes = {session.id: {gap_id: Explanation(text="更换电池", by="P0042", at="2026-11-20T03:15:00+00:00",
                                                  gap=gap_id, session=session.id, key="explanations/x")}}
    return GapDocument.build([session], {}, GapSettings(), notes)


def _texts(fig, gid: str) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def test_gap_report_shows_times_in_the_configured_zone(chained_with_gap):
    doc = _doc(chained_with_gap, explained=True)
    md = markdown(doc, "en", tz="Asia/Shanghai")
    # 01:00:00Z + 0 s and + 64 s; the gap 18-58 s on the session clock; explained at 03:15Z
    assert "- Time: 2026-11-20 09:00:00 – 2026-11-20 09:01:04 (time zone Asia/Shanghai)" in md
    assert "18.0–58.0 (09:00:18–09:00:58)" in md
    assert "explained in writing: 更换电池 (P0042, 2026-11-20 11:15:00)" in md
    assert "01:00:00" not in md and "+00:00" not in md
    zh = markdown(doc, "zh-CN", tz="Europe/London")
    assert "- 时间: 2026-11-20 01:00:00 – 2026-11-20 01:01:04 (时区 Europe/London)" in zh


def test_files_are_numbered_as_in_the_picture(chained_with_gap):
    md = markdown(_doc(chained_with_gap), "en", tz="Asia/Shanghai")
    assert "#1 CAM1_P0042_" in md and "#4 CAM1_P0042_" in md


def test_length_label():
    assert [length_label(s) for s in (0.5, 40.0, 59.4, 60, 125, 3600, 3780)] == [
        "0.5 s", "40 s", "59 s", "1 min", "2 min 5 s", "1 h", "1 h 3 min"]


def test_timeline_labels_each_recording_and_the_gap(chained_with_gap):
    fig = timeline_figure(chained_with_gap, _doc(chained_with_gap).events, tz="Asia/Shanghai")
    names = _texts(fig, "recording-label")
    assert [n.split()[0] for n in names] == ["#1", "#2", "#3", "#4"]
    assert all(n.endswith(".mp4") for n in names)
    (ax,) = fig.axes
    # chained segments alternate colours, so two neighbours never look like one bar
    bars = [to_hex(c.get_facecolor()[0]) for c in ax.collections if len(c.get_paths()) == 1][:4]
    assert bars[0] != bars[1] and bars[1] != bars[2]
    # neighbours' names sit at different heights, so they cannot overprint
    heights = [t.get_position()[1] for t in ax.texts if t.get_gid() == "recording-label"]
    assert heights[0] != heights[1] and heights[1] != heights[2]
    assert _texts(fig, "gap-label") == ["40 s\n未说明 unexplained"]
    (legend,) = fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    assert "中断 未说明 gap, unexplained" in entries and any("recording" in e for e in entries)
    title = ax.get_title()
    assert "设备 CAM1" in title and "执法人员 P0042" in title and "device CAM1, officer P0042" in title
    assert ax.get_xticklabels() is not None and "09:00:00" in [
        fig.axes[0].xaxis.get_major_formatter()(0, 0)]


def test_an_explained_gap_says_so(chained_with_gap):
    fig = timeline_figure(chained_with_gap, _doc(chained_with_gap, explained=True).events, tz="Asia/Shanghai")
    assert _texts(fig, "gap-label") == ["40 s\n已说明 explained"]
    entries = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "中断 已说明 gap, explained" in entries and "中断 未说明 gap, unexplained" not in entries


def test_timeline_png_is_written(chained_with_gap, tmp_path):
    from PIL import Image

    path = timeline(chained_with_gap, _doc(chained_with_gap).events, tmp_path / "t.png", tz="Asia/Shanghai")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 1000


def test_session_report_of_generated_clips(tmp_path):
    """Two generated clips 40 s apart, named in Beijing time, reported in UTC."""
    from media.gaps.synth import ClipSpec, make_clip
    from records.findings import gaps_for_sessions
    from records.intake import recording_from_file
    from records.settings import Settings

    settings = Settings()
    files = [tmp_path / "CAM7_P0007_20261120090000_0001.mp4", tmp_path / "CAM7_P0007_20261120090046_0002.mp4"]
    for seed, f in enumerate(files):
        make_clip(f, ClipSpec(duration=6, audio=False, seed=seed))
    (session,) = segment([recording_from_file(f, settings) for f in files], settings.segment)
    doc = gaps_for_sessions([session], settings.gaps)
    paths = write_session_report(tmp_path / "report", session, doc, tz="UTC")
    md = paths["md"].read_text()
    assert "2026-11-20 01:00:00 – 2026-11-20 01:00:52 (time zone UTC)" in md  # 09:00 Beijing is 01:00 UTC
    assert "(01:00:06–01:00:46)" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = timeline_figure(session, doc.events, tz="UTC")
    assert _texts(fig, "gap-label") == ["40 s\n未说明 unexplained"]
    assert "officer P0007" in fig.axes[0].get_title()


def test_report_says_where_speech_was_listened_for(tmp_path):
    """Two generated clips with sound, 40 s apart: listened in the opening window and after the gap."""
    from media.gaps.synth import ClipSpec, make_clip
    from records.findings import gaps_for_sessions
    from records.intake import recording_from_file
    from records.settings import Settings

    settings = Settings()
    files = [tmp_path / "CAM7_P0007_20261120090000_0001.mp4", tmp_path / "CAM7_P0007_20261120090046_0002.mp4"]
    for seed, f in enumerate(files):
        make_clip(f, ClipSpec(duration=6, seed=seed))
    (session,) = segment([recording_from_file(f, settings) for f in files], settings.segment)
    doc = gaps_for_sessions([session], settings.gaps)
    windows = [(r.file, r.start, r.end, r.detail["reason"]) for r in doc.events if r.kind == "speech_window"]
    # the second clip starts 46 s into the session: inside the 60 s opening window, and a resume
    assert windows == [(str(files[0]), 0.0, 6.0, "opening"), (str(files[1]), 0.0, 6.0, "opening"),
                       (str(files[1]), 0.0, 6.0, "resume")]
    md = write_session_report(tmp_path / "report", session, doc, tz="UTC")["md"].read_text()
    assert "Listened for speech" in md and "语音检测范围" in md
    assert "(after a resume)" in md and "(中断恢复后)" in md
    fig = timeline_figure(session, doc.events, tz="UTC")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "语音检测范围 listened for speech" in labels
