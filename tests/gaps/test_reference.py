"""Our one-pass detectors against FFmpeg's blackdetect/freezedetect/silencedetect themselves
(through PyAV's bundled libavfilter): the same events, boundaries within 0.5 s."""

from __future__ import annotations

import pytest

from media.gaps.reference import KINDS, reference_events

from .conftest import TOLERANCE, VIDEO, need_shared


def same(ours, ref) -> bool:
    return len(ours) == len(ref) and all(
        abs(a[0] - b[0]) <= TOLERANCE and abs(a[1] - b[1]) <= TOLERANCE for a, b in zip(ours, ref)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clean", "faults", "full_range_black", "late_faults", "noise_after_silence"])
def test_corpus_matches_ffmpeg_filters(corpus, analysed, name):
    result, _ = analysed[name]
    ref = reference_events(corpus[name][0])
    for kind in KINDS:
        ours = [(e.start, e.end) for e in result.of_kind(kind)]
        assert same(ours, ref[kind]), (kind, ours, ref[kind])


@pytest.mark.shared
@pytest.mark.parametrize("name", ["sam2__01_dog.mp4", "opencv-doc__cup.mp4", "mmaction2__test.avi"])
def test_real_clips_match_ffmpeg_filters(name):
    from media.gaps.qc import analyse

    path = need_shared(VIDEO / name)
    result, ref = analyse(path, speech=False), reference_events(path)
    for kind in KINDS:
        ours = [(e.start, e.end) for e in result.of_kind(kind)]
        assert same(ours, ref[kind]), (kind, ours, ref[kind])
