"""One decode pass over a file's video and sound, feeding every detector.

:class:`GapChecks` is the checks as a consumer of a shared pass (:mod:`media.fanout`), so the
archive outputs can take their frames from the same decode; :func:`analyse` runs it alone. It
demuxes the first video and first audio stream together, reads packet timestamps
(dropped frames), decodes pictures and sound once, and hands each detector the reduced input it
needs: a strided view of the luma plane (no colour conversion: ``to_ndarray('gray')`` costs more
than decoding), a 5 ms peak envelope of the sound, and 16 kHz mono sound for speech. Only the
current frame and the freeze reference (a reduced copy) are held, so memory stays flat.

Decoding is most of the cost. With ``fast_decode`` the H.264/HEVC decoder skips its loop filter
(deblocking only smooths block edges, it does not make a picture black or still) and the
pictures no other picture refers to (non-reference B-frames), and decodes on all cores. Black and
freeze boundaries then move by at most the distance between reference pictures, well inside the
0.5 s the tests allow, while dropped frames are still read from every packet's timestamp.

With ``settings.osd.enabled`` (or ``analyse(osd=True)``) the same pass also feeds the camera's
burned-in display reader (:class:`OsdFeed`, :mod:`media.text.osd`): one full-size luma view a
second, no extra decode; its ``osd_*`` events join the others and the reading is kept in
:attr:`QCResult.osd`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import av
import numpy as np

from media.fanout import Consumer, FanOut, Source, Wants
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
    duration_mismatch,
)
from media.gaps.markers import markers
from media.gaps.settings import GapSettings
from media.gaps.session import resume_id
from media.gaps.speech import RATE, Listening, SpeechDetector, Window
from media.model import Event, Recording

#: Block length of the sound envelope: silence and dropout boundaries are exact to this.
ENVELOPE_STEP = 0.005

# Formats whose plane 0 is the luma plane, 8 bits (the 10/12-bit ones are handled by name).
_LUMA_PREFIXES = ("yuv", "yuvj", "nv12", "nv21", "nv16", "nv24", "gray", "p010", "p016")


@dataclass
class QCResult:
    """What one decode pass found in one file.

    Attributes
    ----------
    path : str
    events : list of Event
        Every finding, sorted by start; ``speech`` events are the speech segments.
    duration : float
        Seconds covered by the file's streams.
    has_video, has_audio : bool
    stats : dict
        Counts of packets, pictures decoded and analysed, sound windows, settings used.
    osd : OsdReading or None
        The camera's burned-in display as read in the same pass (:mod:`media.text.osd`), when
        ``settings.osd.enabled`` or ``analyse(osd=True)``; None otherwise.
    """

    path: str
    events: list[Event] = field(default_factory=list)
    duration: float = 0.0
    has_video: bool = False
    has_audio: bool = False
    stats: dict = field(default_factory=dict)
    osd: object | None = None  # media.text.osd.OsdReading (imported only when used)

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    @property
    def speech(self) -> list[tuple[float, float]]:
        return [(e.start, e.end) for e in self.of_kind("speech")]


def luma_view(frame: av.VideoFrame, step: int) -> tuple[np.ndarray, bool, int, tuple[np.ndarray, ...]]:
    """The planes of ``frame`` at every ``step``-th row and column, without copying.

    Parameters
    ----------
    frame : av.VideoFrame
    step : int
        Subsampling step; 1 reads every pixel.

    Returns
    -------
    luma : ndarray, shape (ceil(H/step), ceil(W/step))
        uint8 for 8-bit formats, uint16 for deeper ones. A view into the frame's buffer, which
        the decoder reuses: use it before decoding the next frame. Line padding is cut off.
    full_range : bool
        Whether the luma is full range (``yuvj*`` formats or a JPEG colour range), as FFmpeg's
        blackdetect decides.
    depth : int
        Bits per sample.
    chroma : tuple of ndarray
        The two chroma planes of planar YUV formats, reduced the same way; empty otherwise.

    Notes
    -----
    Formats without a luma plane (RGB, palettes) are converted to ``gray`` at reduced size.
    """
    name = frame.format.name
    if name.startswith(_LUMA_PREFIXES):
        plane = frame.planes[0]
        depth = 8
        if name.endswith(("le", "be")) or name.startswith(("p010", "p016")):
            depth = {"p010": 10, "p016": 16}.get(name[:4]) or int("".join(c for c in name.split("p")[-1] if c.isdigit()) or 8)
            dtype = np.dtype("<u2") if name.endswith("le") or name.startswith("p0") else np.dtype(">u2")
        else:
            dtype = np.dtype(np.uint8)
        luma = _plane(plane, dtype, step)
        full = name.startswith("yuvj") or frame.color_range == 2  # AVCOL_RANGE_JPEG
        chroma = ()
        if name.startswith("yuv") and len(frame.planes) >= 3:
            chroma = (_plane(frame.planes[1], dtype, step), _plane(frame.planes[2], dtype, step))
        return luma, full, depth, chroma
    small = frame.reformat(
        width=max(1, frame.width // step), height=max(1, frame.height // step), format="gray"
    )
    plane = small.planes[0]
    return _plane(plane, np.dtype(np.uint8), 1), True, 8, ()


def _plane(plane, dtype: np.dtype, step: int) -> np.ndarray:
    """A strided view of one picture plane, line padding cut off."""
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return rows[::step, : plane.width : step]


class _SoundBlocks:
    """Turns decoded sound frames into :class:`Envelope` chunks of about half a second.

    Batching many small frames (AAC: 21 ms) before the numpy work keeps the per-frame cost of
    the sound detectors negligible. A jump in the frames' timestamps flushes what is pending
    and restarts the clock there.
    """

    def __init__(self, step: float = ENVELOPE_STEP, batch: float = 0.5) -> None:
        self.step, self.batch = step, batch
        self.rate = 0
        self.block = 0
        self.pending: list[np.ndarray] = []
        self.count = 0
        self.time: float | None = None  # time of the first pending sample

    def add(self, t: float, peaks: np.ndarray, rate: int) -> list[Envelope]:
        out: list[Envelope] = []
        if self.time is not None and (
            rate != self.rate or abs(t - (self.time + self.count / self.rate)) > 0.5 * len(peaks) / rate
        ):
            out += self.flush(final=True)
        if self.time is None:
            self.time, self.rate = t, rate
            self.block = max(1, round(rate * self.step))
        self.pending.append(peaks)
        self.count += len(peaks)
        if self.count >= self.batch * rate:
            out += self.flush()
        return out

    def flush(self, final: bool = False) -> list[Envelope]:
        """Envelope of the whole blocks pending; the remainder waits unless ``final``."""
        if self.time is None or not self.pending:
            return []
        x = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        n = len(x) // self.block
        if final and len(x) > n * self.block:
            x = np.concatenate([x, np.zeros(self.block - len(x) + n * self.block, x.dtype)])
            x[n * self.block :] = x[n * self.block :].max()  # the short last block keeps its peak
            n += 1
        env = Envelope(self.time, self.block / self.rate, x[: n * self.block].reshape(n, self.block).max(axis=1))
        rest = x[n * self.block :]
        self.time += n * self.block / self.rate
        self.pending, self.count = ([rest], len(rest)) if len(rest) else ([], 0)
        if final:
            self.time, self.pending, self.count = None, [], 0
        return [env] if n else []


def _sound_peak(frame: av.AudioFrame) -> np.ndarray:
    """Absolute sample level of each sample instant over all channels, float32, 1.0 = full scale."""
    x = frame.to_ndarray()
    fmt = frame.format
    if not fmt.is_planar:
        x = x.reshape(-1, len(frame.layout.channels)).T
    x = np.abs(x).max(axis=0)
    if x.dtype.kind in "iu":
        scale = float(1 << (8 * x.dtype.itemsize - 1))
        if x.dtype.kind == "u":  # u8 is offset binary
            return np.abs(x.astype(np.float32) - scale) / scale
        return x.astype(np.float32) / scale
    return x.astype(np.float32, copy=False)


def nominal_frame_time(stream: av.video.stream.VideoStream) -> float:
    """Seconds per frame the stream is meant to have; 0.0 when unknown.

    The container's real base rate (``r_frame_rate``) first: the average rate is lowered by the
    very drops we look for. An implausible base rate (timestamps in 1/90000, say) falls back to
    the average.
    """
    for rate in (stream.base_rate, stream.guessed_rate, stream.average_rate):
        if rate and 1 <= float(rate) <= 240:
            return float(1 / rate)
    return 0.0


class OsdFeed(Detector):
    """Feeds the burned-in display reader (:class:`media.text.osd.OsdReader`) from this pass.

    Fed ``(t, frame)`` for every decoded picture, it converts only the samples the reader wants
    (a view of the full-size luma plane, no colour conversion). At the end it reports
    ``osd_time_jump`` events, or every display finding when the file's :class:`Recording` is
    known (:func:`media.text.checks.osd_events`), and keeps the reading in :attr:`reading`.
    """

    kind = "osd"
    feeds = "frame"

    def __init__(self, settings: GapSettings | None = None, recording: Recording | None = None) -> None:
        from media.text.osd import OsdReader

        super().__init__(settings)
        self.recording = recording
        self.reader = OsdReader(self.settings.osd)
        self.reading = None

    def process(self, item) -> list[Event]:
        t, frame = item
        if self.reader.wants(t):
            from media.text.osd import luma

            self.reader.feed(t, luma(frame))
        return []

    def finish(self, end: float) -> list[Event]:
        from media.text.checks import osd_events, time_jumps

        self.reading = self.reader.finish()
        if self.recording is not None:
            return osd_events(self.reading, self.recording, self.settings.osd)
        return time_jumps(self.reading, self.settings.osd)


class GapChecks(Consumer):
    """The gap, quality and speech checks as a consumer of a shared decode pass (:mod:`media.fanout`).

    Fed the first video and first audio stream, it hands each detector the reduced input it
    needs; :attr:`result` holds the :class:`QCResult` once the pass has finished. Its pictures
    may come from a fast decode (``settings.fast_decode``) unless another consumer of the same
    pass needs faithful ones.

    Parameters are those of :func:`analyse`.
    """

    name = "gaps"

    def __init__(
        self,
        settings: GapSettings | None = None,
        *,
        speech: bool | None = None,
        extra: Iterable[Detector] = (),
        osd: bool | None = None,
        recording: Recording | None = None,
        listen: Iterable[Window] | None = None,
    ) -> None:
        self.s = settings or GapSettings()
        self.want_speech = self.s.speech if speech is None else speech
        self.listen = None if listen is None or self.s.speech_scope == "whole" else list(listen)
        self.want_osd = self.s.osd.enabled if osd is None else osd
        self.extra = list(extra)
        self.recording = recording
        self.result: QCResult | None = None

    def start(self, source: Source) -> Wants:
        s, container = self.s, source.container
        self.source = source
        self.qc = QCResult(path=str(source.path))
        # cover art is a "video" stream of one picture: not the recording
        videos = [x for x in container.streams.video if not x.disposition & av.stream.Disposition.attached_pic]
        self.vstream = vstream = videos[0] if videos else None
        self.astream = astream = container.streams.audio[0] if container.streams.audio else None
        self.qc.has_video, self.qc.has_audio = vstream is not None, astream is not None
        self.origin = (container.start_time or 0) / 1_000_000
        self.detectors = detectors = {
            "picture": [], "frame": [], "sound": [], "sound_frame": [], "packet": [], "speech_sound": []
        }
        for d in self.extra:
            detectors[d.feeds].append(d)
        self.frame_time = 0.0
        if vstream is not None:
            detectors["picture"] += [BlackDetector(s), FreezeDetector(s)]
            self.frame_time = nominal_frame_time(vstream)
            if self.frame_time:
                detectors["packet"].append(DroppedFrameDetector(self.frame_time, s, on_stop=self._resumed))
            if self.want_osd:
                detectors["frame"].append(OsdFeed(s, self.recording))
        self.resampler = self.listening = None
        self._stops: dict[float, Window] = {}  # a stop's start -> the window opened after it
        if astream is not None:
            detectors["sound"] += [SilenceDetector(s), DropoutDetector(s)]
            detectors["sound_frame"].append(AudioTimestampDetector(s))
            if self.want_speech:
                self.listening = Listening(SpeechDetector(s), self.listen)
                self.resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        self.events: list[Event] = []
        self.counts = {"packets": 0, "pictures": 0, "sound_frames": 0, "decode_errors": 0}
        self.extent: dict[str, list[float]] = {}
        self.sound = _SoundBlocks()
        self.speech_time: float | None = None
        self.speech_next = 0.0
        streams = [x for x in (vstream, astream) if x is not None]
        self.time_bases = {x.index: float(x.time_base) for x in streams}  # Fractions are slow
        indices = {x.index for x in streams}
        return Wants(packets=indices, frames=indices, fast=s.fast_decode)

    def _feed(self, kind: str, item) -> None:
        for d in self.detectors[kind]:
            self.events.extend(d.process(item))

    def _resumed(self, start: float, at: float) -> None:
        """A stop found in this pass (``start``, resumed ``at``): the rules read speech after it
        (article 21). A stop that grows (drops merged into it) moves its one window to its new
        resume."""
        if self.listening is not None:
            rid = resume_id(self.recording.start + timedelta(seconds=at)) if self.recording else f"stop-{at:.3f}"
            window = Window(round(at, 3), round(at + self.s.resume_within, 3), "resume", rid)
            self.events.extend(self.listening.open(window, replaces=self._stops.get(start)))
            self._stops[start] = window

    def packet(self, packet: av.Packet) -> None:
        stream = packet.stream
        if packet.pts is not None:
            tb = self.time_bases[stream.index]
            self.counts["packets"] += 1
            t = packet.pts * tb - self.origin
            end = t + (packet.duration or 0) * tb
            span = self.extent.setdefault(stream.type, [t, end])
            span[0], span[1] = min(span[0], t), max(span[1], end)
            if stream is self.vstream:
                self._feed("packet", t)

    def decode_error(self, packet: av.Packet, error: av.FFmpegError) -> None:
        if not isinstance(error, av.error.InvalidDataError):
            raise error
        # a damaged packet: the decoder conceals it, the pictures around it still count
        self.counts["decode_errors"] += 1

    def video(self, frame: av.VideoFrame, stream: av.stream.Stream) -> None:
        if frame.pts is None:
            return
        t = frame.time - self.origin
        self.counts["pictures"] += 1
        luma, full, depth, chroma = luma_view(frame, self.s.luma_step)
        self._feed("picture", Picture(t, self.frame_time, luma, full, depth, chroma))
        if self.detectors["frame"]:
            self._feed("frame", (t, frame))

    def audio(self, frame: av.AudioFrame, stream: av.stream.Stream) -> None:
        if frame.pts is None:
            return
        t = frame.time - self.origin
        self.counts["sound_frames"] += 1
        rate = frame.sample_rate
        self._feed("sound_frame", (t, frame.samples / rate))
        for env in self.sound.add(t, _sound_peak(frame), rate):
            self._feed("sound", env)
        if self.resampler is not None:
            if self.speech_time is None or abs(t - self.speech_next) > 0.5 * frame.samples / rate:
                self.speech_time = t  # first frame, or the timestamps jumped: restart the clock
            self.speech_next = t + frame.samples / rate
            for out in self.resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)
                self.events.extend(self.listening.add(self.speech_time, samples))
                self._feed("speech_sound", (self.speech_time, samples))  # extra detectors hear it all
                self.speech_time += len(samples) / RATE

    def finish(self) -> None:
        s, container, events, extent = self.s, self.source.container, self.events, self.extent
        vstream, astream, result = self.vstream, self.astream, self.qc
        for env in self.sound.flush(final=True):
            self._feed("sound", env)
        ends = [span[1] for span in extent.values()]
        end = max(ends) if ends else float(container.duration or 0) / 1_000_000
        for group in self.detectors.values():
            for d in group:
                events.extend(d.finish(extent.get("video" if d.feeds in ("picture", "packet", "frame") else "audio", [0, end])[1]))
        if self.listening is not None:  # after the packet detectors: their last stops open windows
            events.extend(self.listening.finish(extent.get("audio", [0, end])[1]))
        events += duration_mismatch(
            tuple(extent["video"]) if "video" in extent else None,
            tuple(extent["audio"]) if "audio" in extent else None,
            s,
        )
        if vstream is not None and (astream is None or self.counts["sound_frames"] == 0):
            # no audio stream, or one that holds no sound at all
            events.append(
                Event(kind="no_audio", start=0.0, end=round(end, 3), rule=s.rule("no_audio"),
                      detail={"detector": "streams", "streams": [x.type for x in container.streams],
                              "audio_stream": astream is not None})
            )
        events += markers(container, self.origin)
        result.duration = round(end, 3)
        heard = self.listening
        result.stats = {
            **self.counts,
            "decode": self.source.decoding.get(vstream.index, {}) if vstream is not None else {},
            "luma_step": s.luma_step,
            "speech_windows": heard.detector.windows if heard else 0,
            "speech_model_windows": heard.detector.model_windows if heard else 0,
            "speech_listened_s": round(heard.seconds, 3) if heard else 0.0,
        }
        osd_d = [d for d in self.detectors["frame"] if isinstance(d, OsdFeed)]
        if osd_d:
            result.osd = osd_d[0].reading
            result.stats["osd"] = {**result.osd.stats, "sampled": result.osd.sampled, "read": len(result.osd.samples)}
        for e in events:
            e.file = str(self.source.path)
        result.events = sorted(events, key=lambda e: (e.start if e.start is not None else -1.0, e.kind))
        self.result = result


def analyse(
    path: str | Path,
    settings: GapSettings | None = None,
    *,
    speech: bool | None = None,
    extra: Iterable[Detector] = (),
    osd: bool | None = None,
    recording: Recording | None = None,
    threads: int | None = None,
    listen: Iterable[Window] | None = None,
) -> QCResult:
    """Find black, frozen, silent and speech stretches and stream faults in one decode pass.

    Parameters
    ----------
    path : str or Path
        A media file.
    settings : GapSettings, optional
        Thresholds; the defaults follow FFmpeg's blackdetect, freezedetect and silencedetect.
    speech : bool, optional
        Run voice activity detection; defaults to ``settings.speech``.
    extra : iterable of Detector, optional
        More detectors, fed what their ``feeds`` names ("picture", "sound", "sound_frame",
        "packet", or "frame": ``(t, av.VideoFrame)`` of every decoded picture).
    osd : bool, optional
        Read the camera's burned-in display in this pass (:class:`OsdFeed`); defaults to
        ``settings.osd.enabled``. The reading is in :attr:`QCResult.osd`.
    recording : Recording, optional
        The file's identity; with it the display checks that need one (clock offset, device
        and officer numbers, unreadable display) run here too, else only ``osd_time_jump``.
    threads : int, optional
        Decoder threads; None: one per core.
    listen : iterable of Window, optional
        Where the voice activity detection listens (``settings.speech_scope = "rules"``): the
        windows of :func:`media.gaps.session.listening_windows`, plus those after stops found
        in this pass. None (a file checked without its session) listens to the whole file.

    Returns
    -------
    QCResult
        Events with ``start``/``end`` in seconds from the start of the file.

    Notes
    -----
    This is :class:`GapChecks` alone on a :class:`media.fanout.FanOut`; to check a file while
    other consumers (archive outputs) use the same decode, put a :class:`GapChecks` among them.
    """
    checks = GapChecks(settings, speech=speech, extra=extra, osd=osd, recording=recording, listen=listen)
    outcome = FanOut(path, [checks], threads=threads).run()
    if checks in outcome.errors:
        raise outcome.errors[checks]
    return checks.result
