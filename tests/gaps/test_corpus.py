"""Every labelled event found within 0.5 s, and nothing else, on the generated corpus."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import SPEECH_CLIPS, TOLERANCE

# the corpus is made and analysed once per session, a dozen clips: some 10-30 s before the first test
pytestmark = pytest.mark.slow

#: kinds judged against the labels; speech is judged separately (it is what the model hears)
FAULT_KINDS = ("black", "freeze", "silence", "audio_dropout", "dropped_frames")


def _match(events, interval) -> bool:
    a, b = interval
    return any(abs(e.start - a) <= TOLERANCE and abs(e.end - b) <= TOLERANCE for e in events)


def _describe(result) -> str:
    return "; ".join(f"{e.kind} {e.start}-{e.end}" for e in result.events)


@pytest.mark.parametrize(
    "name", ["clean", "clean_stereo_30fps", "faults", "full_range_black", "late_faults", "audio_short",
             "noise_after_silence", "loud_noise", "speech_a", "speech_b", "markers"]
)
def test_labelled_faults_found_and_nothing_else(analysed, name):
    if name not in analysed:
        pytest.skip("speech clips need the shared audio files")
    result, labels = analysed[name]
    for kind in FAULT_KINDS:
        found = result.of_kind(kind)
        for interval in labels[kind]:
            assert _match(found, interval), f"{kind} {interval} not found in {name}: {_describe(result)}"
        false = [e for e in found if not any(_match([e], iv) for iv in labels[kind])]
        assert not false, f"false {kind} events in {name}: {false}"


def test_clean_clip_has_no_events(analysed):
    result, _ = analysed["clean"]
    assert result.events == []
    assert result.has_audio and result.has_video


def test_black_threshold_follows_colour_range(analysed):
    # full-range black pictures (0-20) are under 0.10 x 255 = 25; limited-range ones with
    # sensor-like noise (16-36) only under 16 + 0.10 x 219 = 37, the limited-range level
    for name in ("full_range_black", "faults"):
        result, labels = analysed[name]
        assert len(result.of_kind("black")) == len(labels["black"]) == 1
    from media.gaps.detectors import black_ratio

    noisy = np.random.default_rng(0).integers(16, 37, (90, 160), dtype=np.uint8)
    assert black_ratio(noisy, 37) >= 0.98 > black_ratio(noisy, 25)


def test_figures_and_rules(analysed):
    result, _ = analysed["faults"]
    drop = result.of_kind("dropped_frames")[0]
    assert drop.detail["missing_frames"] == 15  # 0.6 s at 25 fps
    assert drop.rule == "第二十一条"
    assert result.of_kind("black")[0].detail["min_black_ratio"] >= 0.98
    assert all(e.file == result.path for e in result.events)


def test_duration_mismatch(analysed):
    result, _ = analysed["audio_short"]
    (event,) = result.of_kind("duration_mismatch")
    assert abs(event.start - 7.0) <= TOLERANCE and abs(event.end - 10.0) <= TOLERANCE
    assert abs(event.detail["video_seconds"] - event.detail["audio_seconds"] - 3.0) <= TOLERANCE


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_speech_found_in_every_speech_stretch(analysed, name):
    if name not in analysed:
        pytest.skip("speech clips need the shared audio files")
    result, labels = analysed[name]
    speech = result.of_kind("speech")
    assert labels["speech"]
    for a, b in labels["speech"]:
        inside = [e for e in speech if e.end > a - TOLERANCE and e.start < b + TOLERANCE]
        assert inside, f"no speech found in {a}-{b}: {_describe(result)}"
        assert abs(inside[0].start - a) <= TOLERANCE, (a, b, inside)
        assert abs(inside[-1].end - b) <= TOLERANCE, (a, b, inside)
        heard = sum(min(e.end, b) - max(e.start, a) for e in inside)
        assert heard >= 0.6 * (b - a), (a, b, inside)
    # and nothing where only ambient noise is
    for e in speech:
        assert any(e.end > a - TOLERANCE and e.start < b + TOLERANCE for a, b in labels["speech"]), e


@pytest.mark.parametrize("name", ["clean", "clean_stereo_30fps", "faults", "noise_after_silence", "loud_noise"])
def test_no_speech_in_noise_and_silence(analysed, name):
    result, _ = analysed[name]
    assert result.of_kind("speech") == []


def test_noise_resuming_after_digital_silence(analysed):
    # the case webrtcvad gets wrong: -40 dBFS pink noise after digital silence is not speech
    result, labels = analysed["noise_after_silence"]
    assert result.stats["speech_model_windows"] > 0  # the model did hear the noise
    assert result.of_kind("speech") == []
    assert _match(result.of_kind("silence"), labels["silence"][0])


def test_markers_from_chapters_and_tags(analysed):
    result, labels = analysed["markers"]
    markers = result.of_kind("marker")
    chapters = [e for e in markers if e.detail["source"] == "chapter"]
    assert [(e.start, e.end) for e in chapters] == labels["marker"]
    assert [e.detail["title"] for e in chapters] == ["incident", "arrest"]
    tagged = [e for e in markers if e.detail.get("tag") == "MARK"]
    assert [(e.start, e.end) for e in tagged] == [(4.5, 4.5)]


def test_exact_boundaries_without_fast_decode(corpus):
    # the full decoder (loop filter, every picture) gives the same findings
    from media.gaps.qc import analyse
    from media.gaps.settings import GapSettings

    path, labels = corpus["faults"]
    result = analyse(path, GapSettings(fast_decode=False, luma_step=1), speech=False)
    assert result.stats["decode"] == {"thread_type": "AUTO"}
    for kind in FAULT_KINDS:
        assert len(result.of_kind(kind)) == len(labels[kind])
        for interval in labels[kind]:
            assert _match(result.of_kind(kind), interval), (kind, interval)
