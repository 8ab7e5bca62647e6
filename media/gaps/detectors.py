"""Small detectors behind one interface, in the manner of PySceneDetect's.

A detector is fed one kind of input in presentation order (a reduced luma picture, a block
envelope of sound, or packet timestamps) and returns the :class:`~media.model.Event` objects that
close with it; :meth:`Detector.finish` closes what is still open at the end of the file. The
decode loop in :mod:`media.gaps.qc` owns the file and the decoders; detectors only see numbers,
so each can be tested on arrays.

Times are seconds from the start of the file.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from media.gaps.settings import GapSettings
from media.model import Event


@dataclass(frozen=True)
class Picture:
    """One decoded picture, reduced to what the picture detectors need.

    Attributes
    ----------
    time, duration : float
        Presentation time and nominal display duration, seconds.
    luma : ndarray of uint8 or uint16, shape (H', W')
        The luma plane, possibly a strided view at reduced resolution. Do not keep it: the
        decoder reuses the memory.
    full_range : bool
        True for full-range ("pc", JPEG) luma, False for limited range (16-235).
    depth : int
        Bits per luma sample.
    chroma : tuple of ndarray
        The chroma planes, reduced with the same step (empty when the format has none that
        can be read directly). Freeze detection compares them too, as freezedetect does.
    """

    time: float
    duration: float
    luma: np.ndarray
    full_range: bool = False
    depth: int = 8
    chroma: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class Envelope:
    """Peak sample level of consecutive equal blocks of sound (all channels together).

    Attributes
    ----------
    time : float
        Start of the first block, seconds.
    step : float
        Block length, seconds.
    peak : ndarray of float32, shape (N,)
        Largest absolute sample of each block over all channels, 1.0 = full scale.
    """

    time: float
    step: float
    peak: np.ndarray


class Detector(ABC):
    """One finding kind; fed in presentation order; returns events as they close."""

    kind: ClassVar[str]
    #: which input the detector is fed: "picture", "sound" or "packet"
    feeds: ClassVar[str]

    def __init__(self, settings: GapSettings | None = None) -> None:
        self.settings = settings or GapSettings()

    @abstractmethod
    def process(self, item) -> list[Event]:
        """Take the next input, return the events it closes."""

    def finish(self, end: float) -> list[Event]:
        """Close what is open at ``end`` (the end of the stream, seconds)."""
        return []

    def event(self, start: float, end: float, **detail) -> Event:
        return Event(
            kind=self.kind,
            start=round(float(start), 3),
            end=round(float(end), 3),
            rule=self.settings.rule(self.kind),
            detail={"detector": type(self).__name__, "seconds": round(float(end - start), 3), **detail},
        )


def black_level(full_range: bool, depth: int, threshold: float) -> int:
    """Highest luma value counted as black, as FFmpeg's blackdetect computes it.

    Parameters
    ----------
    full_range : bool
        Full-range (JPEG) luma spans 0-255; limited range spans 16-235.
    depth : int
        Bits per sample; the 8-bit level is scaled up for deeper samples.
    threshold : float
        Darkness as a share of the luma range (blackdetect's ``pixel_black_th``, 0.10).

    Returns
    -------
    level : int
        For 8-bit limited range and 0.10: 16 + 0.10 x 219 = 37.9, so 37.
    """
    level = threshold * 255 if full_range else 16 + threshold * (235 - 16)
    return int(level * (1 << (depth - 8)))


def black_ratio(luma: np.ndarray, level: int) -> float:
    """Share of pixels of ``luma`` at or under ``level``."""
    return np.count_nonzero(luma <= level) / luma.size


def mean_abs_diff(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], depth: int) -> float:
    """Mean absolute difference of two pictures over all their planes, as FFmpeg's freezedetect.

    Parameters
    ----------
    a, b : tuple of ndarray
        The planes of two pictures (luma, then chroma), same shapes, of one unsigned integer type.
    depth : int
        Bits per sample; the sum of absolute differences is divided by the sample count and by
        ``2**depth``.
    """
    sad = 0
    for x, y in zip(a, b):
        # |x - y| = max - min, exact in the samples' own unsigned type: no widened copies (2.5x
        # faster than subtracting in int32 on the strided quarter-resolution views)
        hi = np.maximum(x, y)
        np.subtract(hi, np.minimum(x, y), out=hi)
        sad += int(hi.sum(dtype=np.uint64))
    count = sum(x.size for x in a)
    return sad / count / (1 << depth)


class _Stretch:
    """One open stretch of a condition on a stream of timed samples."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.figures: list[float] = []


class BlackDetector(Detector):
    """Covered lens or dark picture: blackdetect's rule on the luma plane.

    A picture is black when at least ``black_ratio`` of its pixels are at or under the black
    level (:func:`black_level`); a stretch of black pictures lasting ``black_min_duration`` is an
    event from the first black picture to the first picture that is not black.
    """

    kind = "black"
    feeds = "picture"

    def __init__(self, settings: GapSettings | None = None) -> None:
        super().__init__(settings)
        self._run = _Stretch()

    def process(self, pic: Picture) -> list[Event]:
        s = self.settings
        ratio = black_ratio(pic.luma, black_level(pic.full_range, pic.depth, s.black_pixel_threshold))
        if ratio >= s.black_ratio:
            if self._run.start is None:
                self._run.start = pic.time
            self._run.figures.append(ratio)
            return []
        return self._close(pic.time)

    def _close(self, end: float) -> list[Event]:
        run, self._run = self._run, _Stretch()
        if run.start is None or end - run.start < self.settings.black_min_duration:
            return []
        return [self.event(run.start, end, min_black_ratio=round(float(min(run.figures)), 4))]

    def finish(self, end: float) -> list[Event]:
        return self._close(end)


class FreezeDetector(Detector):
    """Frozen picture: freezedetect's rule on the (reduced) planes of the picture.

    Each picture is compared with a reference, the first picture of the current still stretch;
    a mean absolute difference over all planes (:func:`mean_abs_diff`) above the noise level
    (-60 dB of full scale) ends the stretch and
    makes that picture the new reference. A stretch of ``freeze_min_duration`` is an event from
    the reference to the first picture that differs.
    """

    kind = "freeze"
    feeds = "picture"

    def __init__(self, settings: GapSettings | None = None) -> None:
        super().__init__(settings)
        self._ref: tuple[np.ndarray, ...] | None = None
        self._ref_time = 0.0
        self._last_time = 0.0
        self._largest = 0.0

    def process(self, pic: Picture) -> list[Event]:
        planes = (pic.luma, *pic.chroma)
        events: list[Event] = []
        if self._ref is not None and [x.shape for x in self._ref] == [x.shape for x in planes]:
            diff = mean_abs_diff(planes, self._ref, pic.depth)
            if diff <= self.settings.freeze_noise:
                self._largest = max(self._largest, diff)
                self._last_time = pic.time
                return events
            events = self._close(pic.time)
        # small copies: the decoder reuses the frame's memory
        self._ref = tuple(np.array(x) for x in planes)
        self._ref_time = self._last_time = pic.time
        self._largest = 0.0
        return events

    def _close(self, end: float) -> list[Event]:
        if self._ref is None or end - self._ref_time < self.settings.freeze_min_duration:
            return []
        return [self.event(self._ref_time, end, largest_difference=round(self._largest, 6))]

    def finish(self, end: float) -> list[Event]:
        events = self._close(end)
        self._ref = None
        return events


class _BlockRuns:
    """Runs of True in a mask over consecutive sound blocks, carried across calls.

    :meth:`feed` returns the runs that closed, as (start, end, peak before, peak after) where
    the peaks are those of the blocks next to the run (``nan`` at the start of the stream).
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.before = float("nan")
        self._last_peak = float("nan")

    def feed(self, env: Envelope, mask: np.ndarray) -> list[tuple[float, float, float, float]]:
        closed = []
        edges = np.flatnonzero(np.diff(mask.astype(np.int8), prepend=np.int8(self.start is not None)))
        for i in edges:
            t = env.time + i * env.step
            if mask[i]:  # a run opens at block i
                self.start = t
                self.before = float(env.peak[i - 1]) if i > 0 else self._last_peak
            else:  # the run closes before block i
                closed.append((self.start, t, self.before, float(env.peak[i])))
                self.start = None
        if len(env.peak):
            self._last_peak = float(env.peak[-1])
        return closed


class SilenceDetector(Detector):
    """Silence: silencedetect's rule (every channel under -60 dBFS for at least 2 s).

    Works on the block envelope (:class:`Envelope`), so its boundaries are exact to one block.
    """

    kind = "silence"
    feeds = "sound"

    def __init__(self, settings: GapSettings | None = None) -> None:
        super().__init__(settings)
        self._runs = _BlockRuns()

    def process(self, env: Envelope) -> list[Event]:
        mask = env.peak < self.settings.silence_noise
        return [e for a, b, _, _ in self._runs.feed(env, mask) if (e := self._event(a, b))]

    def _event(self, start: float, end: float) -> Event | None:
        if end - start < self.settings.silence_min_duration:
            return None
        return self.event(start, end, noise_dbfs=self.settings.silence_noise_db)

    def finish(self, end: float) -> list[Event]:
        if self._runs.start is None:
            return []
        start, self._runs.start = self._runs.start, None
        event = self._event(start, end)
        return [event] if event is not None else []


class DropoutDetector(Detector):
    """Sound dropouts: short stretches of digital zero with sound on both sides.

    A stretch under the silence level that is shorter than ``silence_min_duration`` (longer
    ones are silence), holds at least ``dropout_min_duration`` of blocks at or under
    ``dropout_level_db``, and has sound on both sides (not the start or end of the stream) is a
    dropout: real microphones never give digital zero between sounds, a broken link or buffer
    does. The stretch is the quiet run around the zeros, so the codec's fade into and out of the
    hole belongs to it.
    """

    kind = "audio_dropout"
    feeds = "sound"

    def __init__(self, settings: GapSettings | None = None) -> None:
        super().__init__(settings)
        self._start: float | None = None
        self._after_sound = False  # the open run follows sound, not the stream start
        self._zeros = 0  # zero blocks seen so far
        self._zeros_at_open = 0
        self._seen = False

    def process(self, env: Envelope) -> list[Event]:
        s = self.settings
        quiet = env.peak < s.silence_noise
        zero = env.peak <= s.dropout_level
        before = self._zeros + np.cumsum(zero) - zero  # zero blocks before each block
        events = []
        edges = np.flatnonzero(np.diff(quiet.astype(np.int8), prepend=np.int8(self._start is not None)))
        for i in edges:
            t = env.time + i * env.step
            if quiet[i]:
                self._start, self._zeros_at_open = t, int(before[i])
                self._after_sound = i > 0 or self._seen
                continue
            zeros = int(before[i]) - self._zeros_at_open
            if (
                self._after_sound
                and zeros * env.step + 1e-9 >= s.dropout_min_duration
                and t - self._start < s.silence_min_duration
            ):
                events.append(self.event(self._start, t, source="samples", zero_seconds=round(zeros * env.step, 3)))
            self._start = None
        self._zeros += int(zero.sum())
        self._seen = self._seen or len(quiet) > 0
        return events


class AudioTimestampDetector(Detector):
    """Sound dropouts seen in timestamps: a jump between decoded sound frames.

    Fed ``(time, duration)`` of each decoded sound frame; a frame that starts later than the
    previous one ended, by more than half a frame and ``dropout_min_duration``, marks a dropout.
    """

    kind = "audio_dropout"
    feeds = "sound_frame"

    def __init__(self, settings: GapSettings | None = None) -> None:
        super().__init__(settings)
        self._end: float | None = None

    def process(self, item: tuple[float, float]) -> list[Event]:
        time, duration = item
        events = []
        if self._end is not None:
            jump = time - self._end
            if jump > max(0.5 * duration, self.settings.dropout_min_duration):
                events.append(self.event(self._end, time, source="timestamps"))
        self._end = time + duration if self._end is None else max(self._end, time + duration)
        return events


class DroppedFrameDetector(Detector):
    """Dropped video frames: an interval between packet timestamps above 1.5 nominal frames.

    Fed packet presentation times in decode order; a small heap restores presentation order
    (B-frames arrive a few packets early) without holding the file's timestamps. Drops closer
    than half a second are one event.
    """

    kind = "dropped_frames"
    feeds = "packet"
    _REORDER = 32

    def __init__(
        self, frame_time: float, settings: GapSettings | None = None,
        on_stop: Callable[[float, float], None] | None = None,
    ) -> None:
        super().__init__(settings)
        self.frame_time = frame_time
        #: called with the stop's start and its resume time as soon as a drop is long enough to be
        #: an interruption (``stop_min_duration``), long before its event closes: the speech
        #: detector listens there; called again, same start, later resume, each time the stop grows
        self.on_stop = on_stop
        self._heap: list[float] = []
        self._prev: float | None = None
        self._open: list[float] | None = None  # [start, end, missing frames]

    def process(self, pts: float) -> list[Event]:
        heapq.heappush(self._heap, pts)
        if len(self._heap) <= self._REORDER:
            return []
        return self._step(heapq.heappop(self._heap))

    def _step(self, t: float) -> list[Event]:
        events: list[Event] = []
        prev, self._prev = self._prev, t
        if prev is None or t <= prev:
            return events
        interval = t - prev
        if interval <= self.settings.dropped_frame_factor * self.frame_time:
            return events
        start = prev + self.frame_time
        missing = round(interval / self.frame_time) - 1
        if self._open is not None and start - self._open[1] < 0.5:
            self._open[1] = t
            self._open[2] += missing
        else:
            events = self._flush()
            self._open = [start, t, missing]
        if self.on_stop is not None and self._open[1] - self._open[0] >= self.settings.stop_min_duration:
            self.on_stop(self._open[0], self._open[1])
        return events

    def _flush(self) -> list[Event]:
        if self._open is None:
            return []
        start, end, missing = self._open
        self._open = None
        return [self.event(start, end, missing_frames=int(missing), frame_time=round(self.frame_time, 6))]

    def finish(self, end: float) -> list[Event]:
        events: list[Event] = []
        while self._heap:
            events += self._step(heapq.heappop(self._heap))
        return events + self._flush()


def duration_mismatch(
    video: tuple[float, float] | None, audio: tuple[float, float] | None, settings: GapSettings
) -> list[Event]:
    """Audio and video that do not cover the same time.

    Parameters
    ----------
    video, audio : (first, end) in seconds, or None
        Time covered by each stream's packets.

    Returns
    -------
    events : list of Event
        One ``duration_mismatch`` event over the stretch only one stream covers, when the
        lengths differ by more than ``settings.duration_mismatch``.
    """
    if video is None or audio is None:
        return []
    v_len, a_len = video[1] - video[0], audio[1] - audio[0]
    if abs(v_len - a_len) <= settings.duration_mismatch:
        return []
    short, long_ = sorted((video[1], audio[1]))
    if long_ - short < settings.duration_mismatch:  # the difference is at the start
        short, long_ = sorted((video[0], audio[0]))
    return [
        Event(
            kind="duration_mismatch",
            start=round(short, 3),
            end=round(long_, 3),
            rule=settings.rule("duration_mismatch"),
            detail={
                "detector": "duration_mismatch",
                "video_seconds": round(v_len, 3),
                "audio_seconds": round(a_len, 3),
                "seconds": round(abs(v_len - a_len), 3),
            },
        )
    ]
