"""The detectors on plain arrays, and the helpers they rest on."""

from __future__ import annotations

import numpy as np
import pytest

from media.gaps.detectors import (
    BlackDetector,
    DroppedFrameDetector,
    DropoutDetector,
    Envelope,
    FreezeDetector,
    Picture,
    SilenceDetector,
    black_level,
    duration_mismatch,
)
from media.gaps.markers import parse_offset, tag_markers
from media.gaps.settings import GapSettings
from media.gaps.speech import merge_segments, total_within


def test_black_level_follows_range_and_depth():
    assert black_level(False, 8, 0.10) == 37  # 16 + 0.10 x 219 = 37.9
    assert black_level(True, 8, 0.10) == 25
    assert black_level(False, 10, 0.10) == 151


def pictures(values, fps=10):
    rng = np.random.default_rng(0)
    for i, v in enumerate(values):
        if v == "moving":
            luma = rng.integers(60, 200, (24, 32), dtype=np.uint8)
        elif v == "still":
            luma = np.full((24, 32), 120, np.uint8)
        else:  # dark: limited range black with noise
            luma = rng.integers(16, 30, (24, 32), dtype=np.uint8)
        yield Picture(i / fps, 1 / fps, luma)


def run(detector, items, end):
    events = []
    for item in items:
        events += detector.process(item)
    return events + detector.finish(end)


def test_black_stretch_and_minimum_duration():
    seq = ["moving"] * 10 + ["dark"] * 25 + ["moving"] * 10 + ["dark"] * 15 + ["moving"] * 5
    events = run(BlackDetector(), pictures(seq), 6.5)
    assert [(e.start, e.end) for e in events] == [(1.0, 3.5)]  # the 1.5 s stretch is too short
    events = run(BlackDetector(GapSettings(black_min_duration=1.0)), pictures(seq), 6.5)
    assert [(e.start, e.end) for e in events] == [(1.0, 3.5), (4.5, 6.0)]


def test_black_at_the_end_closes_at_the_end():
    events = run(BlackDetector(), pictures(["moving"] * 5 + ["dark"] * 30), 3.5)
    assert [(e.start, e.end) for e in events] == [(0.5, 3.5)]


def test_freeze_from_reference_to_first_change():
    seq = ["moving"] * 5 + ["still"] * 30 + ["moving"] * 5
    events = run(FreezeDetector(), pictures(seq), 4.0)
    assert [(e.start, e.end) for e in events] == [(0.5, 3.5)]
    assert run(FreezeDetector(), pictures(["moving"] * 40), 4.0) == []


def envelopes(levels, step=0.005, chunk=37):
    """Envelope chunks of odd size, so runs cross chunk borders."""
    peaks = np.asarray(levels, np.float32)
    for i in range(0, len(peaks), chunk):
        yield Envelope(i * step, step, peaks[i : i + chunk])


def test_silence_and_dropout_on_envelopes():
    loud, zero, quiet = 0.05, 0.0, 0.0005
    levels = [loud] * 200 + [zero] * 20 + [loud] * 200 + [quiet] * 500 + [loud] * 100 + [zero] * 2 + [loud] * 10
    s = GapSettings()
    silence = run(SilenceDetector(s), envelopes(levels), len(levels) * 0.005)
    assert [(e.start, e.end) for e in silence] == [(2.1, 4.6)]
    drops = run(DropoutDetector(s), envelopes(levels), len(levels) * 0.005)
    # the 0.1 s hole of zeros; not the quiet stretch (no zeros), not the 10 ms one (too short)
    assert [(e.start, e.end) for e in drops] == [(1.0, 1.1)]


def test_zeros_at_the_start_are_not_a_dropout():
    assert run(DropoutDetector(), envelopes([0.0] * 20 + [0.05] * 100), 0.6) == []


def test_dropped_frames_in_decode_order():
    pts = [i / 25 for i in range(100) if not 40 <= i < 55]  # 15 frames missing
    order = []
    for i in range(0, len(pts), 4):  # B-frame like reordering: I P B B
        g = pts[i : i + 4]
        order += [g[0], g[-1], *g[1:-1]]
    events = run(DroppedFrameDetector(1 / 25), order, 4.0)
    (e,) = events
    assert (e.start, e.end) == (1.6, 2.2) and e.detail["missing_frames"] == 15


def test_duration_mismatch():
    s = GapSettings()
    assert duration_mismatch((0, 10), (0, 9.5), s) == []
    (e,) = duration_mismatch((0, 10), (0, 7), s)
    assert (e.start, e.end) == (7, 10)
    (e,) = duration_mismatch((0, 10), (4, 10), s)
    assert (e.start, e.end) == (0, 4)


def test_merge_segments():
    assert merge_segments([(5, 5.1), (0, 1), (1.5, 2)], max_gap=1.0, min_duration=0.25) == [(0, 2)]
    assert merge_segments([(0, 1), (3, 4)], max_gap=1.0) == [(0, 1), (3, 4)]
    assert total_within([(0, 10), (50, 70)], 0, 60) == 20


@pytest.mark.parametrize("text, seconds", [("12.5", 12.5), ("01:02.5", 62.5), ("1:00:00", 3600.0), ("x", None)])
def test_parse_offset(text, seconds):
    assert parse_offset(text) == seconds


def test_tag_markers():
    events = tag_markers({"com.cam.marker": "3, 7.5", "title": "x", "HIGHLIGHT": "pressed"})
    assert [(e.start, e.detail["tag"]) for e in events] == [(3.0, "com.cam.marker"), (7.5, "com.cam.marker"),
                                                            (None, "HIGHLIGHT")]


def test_sound_timestamp_jump_is_a_dropout():
    from media.gaps.detectors import AudioTimestampDetector

    step = 1024 / 48000
    frames = [(i * step, step) for i in range(50)] + [(50 * step + 0.3 + i * step, step) for i in range(20)]
    (e,) = run(AudioTimestampDetector(), frames, 2.0)
    assert e.kind == "audio_dropout" and e.detail["source"] == "timestamps"
    assert abs(e.start - 50 * step) < 1e-3 and abs(e.end - (50 * step + 0.3)) < 1e-3
