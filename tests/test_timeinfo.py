"""Start times: sidecar > container tag > file name > mtime, per-device rules, disagreements."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from media.model import TimeSource
from media.timeinfo import TimeSettings, from_filename, identify

SH = ZoneInfo("Asia/Shanghai")
NAME = "DSJ-A01_1001_20261126090000_0007.MP4"
MTIME = datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc).timestamp()


def test_filename_patterns_shipped():
    cfg = TimeSettings()
    got = from_filename(NAME, cfg.filename_patterns, SH)
    assert got == {"start": datetime(2026, 11, 26, 9, 0, tzinfo=SH), "device": "DSJ-A01", "officer": "1001", "sequence": 7}
    got = from_filename("20261126_093015_0002.MP4", cfg.filename_patterns, SH)
    assert got["start"] == datetime(2026, 11, 26, 9, 30, 15, tzinfo=SH) and got["sequence"] == 2 and got["device"] is None
    assert from_filename("holiday.mp4", cfg.filename_patterns, SH) is None
    # names renamed by hand, with Chinese characters and spaces, keep their time and device
    got = from_filename("执法记录仪_张三_20261103091500.MP4", cfg.filename_patterns, SH)
    assert (got["device"], got["officer"], got["start"]) == ("执法记录仪", "张三", datetime(2026, 11, 3, 9, 15, tzinfo=SH))
    got = from_filename("DSJ 7_李 四_20261103091500_0003.mp4", cfg.filename_patterns, SH)
    assert (got["device"], got["officer"], got["sequence"]) == ("DSJ 7", "李 四", 3)


def test_priority_sidecar_container_filename_mtime(tmp_path):
    cfg = TimeSettings()
    f = tmp_path / NAME
    f.write_bytes(b"x")
    tags = {"creation_time": "2026-11-26T01:00:30.000000Z"}
    # no sidecar: the container tag wins over the name (30 s apart, within tolerance)
    who = identify(f, tags, 60.0, cfg, MTIME)
    assert who.source is TimeSource.CONTAINER
    assert who.start == datetime(2026, 11, 26, 1, 0, 30, tzinfo=timezone.utc)
    assert who.device == "DSJ-A01" and who.officer == "1001" and who.sequence == 7
    assert not who.events
    # a sidecar beats both; naive times are read in the configured zone
    (tmp_path / (NAME + ".json")).write_text(json.dumps({"start": "2026-11-26 08:59:00", "officer": "2002", "categories": ["evidence"]}))
    who = identify(f, tags, 60.0, cfg, MTIME)
    assert who.source is TimeSource.SIDECAR
    assert who.start == datetime(2026, 11, 26, 8, 59, tzinfo=SH)
    assert who.officer == "2002" and who.categories == ["evidence"]


def test_mtime_is_weak_and_flagged(tmp_path):
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"x")
    who = identify(f, {}, 60.0, TimeSettings(), MTIME)
    assert who.source is TimeSource.MTIME and who.source.weak
    assert who.start == datetime(2026, 11, 26, 9, 29, tzinfo=timezone.utc)  # mtime minus duration
    assert [e.kind for e in who.events] == ["weak_start_time"]


def test_local_time_tagged_as_utc_and_disagreement(tmp_path):
    f = tmp_path / NAME
    f.write_bytes(b"x")
    # the camera wrote its local wall time 09:00 with a Z suffix
    tags = {"creation_time": "2026-11-26T09:00:00.000000Z"}
    who = identify(f, tags, 60.0, TimeSettings(), MTIME)
    kinds = [e.kind for e in who.events]
    assert kinds == ["clock_disagreement"]
    assert who.events[0].detail["seconds"] == pytest.approx(8 * 3600)
    fixed = TimeSettings(container_local_as_utc=["DSJ-A01"])
    who = identify(f, tags, 60.0, fixed, MTIME)
    assert who.start == datetime(2026, 11, 26, 9, 0, tzinfo=SH) and not who.events
    # or trust the name for that device
    by_name = TimeSettings(device_priority={"DSJ-A01": ["filename", "container", "mtime"]})
    who = identify(f, tags, 60.0, by_name, MTIME)
    assert who.source is TimeSource.FILENAME and who.start == datetime(2026, 11, 26, 9, 0, tzinfo=SH)


def test_unset_camera_clock_is_ignored(tmp_path):
    f = tmp_path / NAME
    f.write_bytes(b"x")
    who = identify(f, {"creation_time": "1970-01-01T00:00:00.000000Z"}, 10.0, TimeSettings(), MTIME)
    assert who.source is TimeSource.FILENAME


def test_broken_sidecar_is_an_error(tmp_path):
    f = tmp_path / NAME
    f.write_bytes(b"x")
    (tmp_path / (NAME + ".json")).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        identify(f, {}, 1.0, TimeSettings(), MTIME)
