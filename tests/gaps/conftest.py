"""Labelled corpus for the gap detectors, generated once per test session with PyAV."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from media.gaps.synth import ClipSpec, make_clip

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FOOTAGE_SHARED", ROOT.parent / "shared")) / "footage"
AUDIO = SHARED / "audio"
VIDEO = SHARED / "video"
TOLERANCE = 0.5  # seconds, on every boundary

SPEECH_FILES = [
    "CosyVoice__zero_shot_prompt.wav",
    "FunASR__asr_example.wav",
    "faster-whisper__jfk.flac",
    "pocketsphinx-testdata__sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx-testdata__sense_and_sensibility_01_austen_64kb-0880.wav",
    "speech_recognition__english.wav",
]


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared footage not found at {path} (set FOOTAGE_SHARED)")
    return path


def _specs() -> dict[str, ClipSpec]:
    a = lambda name: str(AUDIO / name)  # noqa: E731
    return {
        # nothing wrong: moving picture, ambient noise that is neither silent nor speech
        "clean": ClipSpec(duration=12),
        "clean_stereo_30fps": ClipSpec(duration=8, fps=30, channels=2, audio_rate=44100, seed=3),
        "faults": ClipSpec(
            duration=24,
            black=[(2.0, 5.0)],
            freeze=[(7.0, 10.0)],
            silence=[(11.0, 14.0)],
            dropouts=[(15.5, 15.6)],
            drop=[(17.0, 17.6)],
            black_noise=20,  # a covered lens: 16-36, black only with the limited-range level 37
            seed=1,
        ),
        "full_range_black": ClipSpec(duration=8, full_range=True, black=[(1.0, 4.0)], black_noise=20, seed=2),
        "late_faults": ClipSpec(duration=10, fps=30, channels=2, black=[(7.5, 10.0)], silence=[(6.0, 10.0)], seed=4),
        "audio_short": ClipSpec(duration=10, audio_end=7.0, seed=5),
        # faint pink noise resuming after digital silence: silence, and no speech
        "noise_after_silence": ClipSpec(duration=14, ambient_db=-40.0, silence=[(0.0, 5.0)], seed=6),
        "loud_noise": ClipSpec(duration=8, ambient_db=-15.0, seed=7),
        "speech_a": ClipSpec(
            duration=34, ambient_db=-45.0, seed=8,
            speech=[(2.0, a(SPEECH_FILES[0])), (10.0, a(SPEECH_FILES[1])), (20.0, a(SPEECH_FILES[2]))],
        ),
        "speech_b": ClipSpec(
            duration=26, ambient_db=-45.0, seed=9, fps=30, channels=2,
            speech=[(2.0, a(SPEECH_FILES[3])), (13.0, a(SPEECH_FILES[4])), (20.0, a(SPEECH_FILES[5]))],
        ),
        "markers": ClipSpec(duration=6, chapters=[(1.0, 2.0, "incident"), (3.0, 5.5, "arrest")],
                            tags={"MARK": "4.5"}, seed=10),
    }


SPEECH_CLIPS = ("speech_a", "speech_b")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """name -> (clip path, true intervals by kind); speech clips only when the audio exists."""
    out = tmp_path_factory.mktemp("gaps-corpus")
    clips = {}
    for name, spec in _specs().items():
        if spec.speech and not AUDIO.exists():
            continue
        path = out / (name + (".mkv" if spec.chapters else ".mp4"))
        clips[name] = (path, make_clip(path, spec))
    return clips


@pytest.fixture(scope="session")
def analysed(corpus):
    """name -> (QCResult, labels), one decode pass per clip."""
    from media.gaps.qc import analyse

    return {name: (analyse(path), labels) for name, (path, labels) in corpus.items()}
