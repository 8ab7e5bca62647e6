"""Muting or bleeping time ranges of an audio stream while the rest stays as it was.

For AAC-LC sources (what body cameras write) we splice at the packet level: packets whose frame
touches a range (plus the one before, whose overlap spills into the range) are replaced by
packets of silence or of a steady tone from our own AAC encoder, and every other packet is copied
as is. The rest of the audio therefore decodes to the same samples as the source, except within
one AAC frame (1024 samples) after each range, where the decoder overlaps into a replaced frame,
and timing is untouched. Other codecs are decoded, edited sample-accurately and re-encoded to AAC.

Caveat: an AAC stream that uses perceptual noise substitution (PNS) draws decoder noise from a
running random state, so after a splice its noise bands differ by ~1e-6; camera encoders do not
use PNS.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Sequence

import av
import numpy as np

from .spec import AudioRange

__all__ = ["AudioRedactor", "tone"]

AAC_FRAME = 1024


def tone(n: int, sample_rate: int, start: int = 0, amplitude: float = 0.2) -> np.ndarray:
    """A bleep: ``n`` samples of a ~1 kHz sine whose period divides an AAC frame exactly.

    Choosing a whole number of cycles per 1024 samples makes every encoded frame alike, so one
    steady-state packet can stand for any number of frames without clicks.
    """
    cycles = max(1, round(1000 * AAC_FRAME / sample_rate))
    t = np.arange(start, start + n)
    return (amplitude * np.sin(2 * np.pi * cycles * t / AAC_FRAME)).astype(np.float32)


def _covering(ranges: Sequence[AudioRange], t0: float, t1: float, lead: float) -> AudioRange | None:
    for r in ranges:
        if t1 > r.start - lead and t0 < r.end:
            return r
    return None


class AudioRedactor:
    """Turns source audio packets into output packets with the given ranges silenced or bleeped.

    Parameters
    ----------
    source : av.audio.stream.AudioStream
        The input stream (its container is being demuxed by the caller).
    output : av.container.OutputContainer
        Where an AAC stream is added.
    ranges : sequence of AudioRange
    """

    def __init__(self, source, output, ranges: Iterable[AudioRange]):
        self.source = source
        self.ranges = sorted(ranges, key=lambda r: r.start)
        ctx = source.codec_context
        # ADTS streams (MPEG-TS) carry no AudioSpecificConfig for MP4: re-encode those.
        self.splice = ctx.name == "aac" and (ctx.profile or "LC") == "LC" and bool(ctx.extradata)
        self.replaced = 0
        if self.splice:
            self.stream = output.add_stream_from_template(source)
            self._fill = {m: self._steady_packet(ctx.sample_rate, ctx.layout.name, m) for m in ("mute", "bleep")}
        else:
            rate = ctx.sample_rate or 48000
            self.stream = output.add_stream("aac", rate=rate, layout=ctx.layout.name if ctx.layout else "stereo")
            self.stream.bit_rate = 128000
            self._next: int | None = None
            self._resampler = av.AudioResampler(format="fltp", layout=self.stream.layout.name, rate=rate,
                                                frame_size=AAC_FRAME)

    @staticmethod
    def _steady_packet(rate: int, layout: str, mode: str) -> bytes:
        enc = av.CodecContext.create("aac", "w")
        enc.sample_rate, enc.layout, enc.format, enc.bit_rate = rate, layout, "fltp", 128000
        channels = enc.layout.nb_channels
        packets = []
        for i in range(8):
            data = np.zeros((channels, AAC_FRAME), np.float32)
            if mode == "bleep":
                data[:] = tone(AAC_FRAME, rate, i * AAC_FRAME)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, i * AAC_FRAME
            packets += enc.encode(frame)
        # Past the encoder's priming frame every packet is the steady state.
        return bytes(packets[-1])

    def packets(self, packet) -> list:
        """Output packets for one demuxed source packet (``[]`` while an encoder buffers)."""
        if packet.size == 0:  # demuxer's end-of-stream marker: flush() handles the end
            return []
        if self.splice:
            return [self._spliced(packet)]
        out = []
        for frame in packet.decode():
            out += self._encode(self._edit(frame))
        return out

    def _encode(self, frame) -> list:
        """Resample to fixed AAC frames and encode, stamping a continuous sample clock.

        The resampler's own stamps follow the source's time base (an MP3 frame is 1152 samples,
        an AAC frame 1024), which the MP4 muxer refuses; a running sample count keeps sync.
        """
        if frame is not None and self._next is None:
            self._next = int(round(float(frame.time or 0) * self.stream.rate))
        out = []
        for rf in self._resampler.resample(frame):
            rf.pts, rf.time_base = self._next or 0, Fraction(1, self.stream.rate)
            self._next = (self._next or 0) + rf.samples
            out += self.stream.encode(rf)
        return out

    def flush(self) -> list:
        return [] if self.splice else self._flush()

    def _flush(self) -> list:
        out = []
        for frame in self.source.codec_context.decode(None):
            out += self._encode(self._edit(frame))
        out += self._encode(None)
        return out + list(self.stream.encode(None))

    def _spliced(self, packet):
        tb = packet.time_base
        t0 = float(packet.pts * tb)
        t1 = float((packet.pts + (packet.duration or AAC_FRAME)) * tb)
        # One frame of lead: the decoder overlaps the previous frame's tail into this one.
        frame_s = AAC_FRAME / self.source.codec_context.sample_rate
        r = _covering(self.ranges, t0, t1, frame_s)
        if r is not None:
            self.replaced += 1
            new = av.Packet(self._fill[r.mode])
            new.pts, new.dts, new.duration, new.time_base = packet.pts, packet.dts, packet.duration, tb
            packet = new
        packet.stream = self.stream
        return packet

    def _edit(self, frame):
        """Silence or bleep, sample-accurately, the parts of a decoded frame inside a range."""
        if frame.pts is None or not self.ranges:
            return frame
        rate = frame.sample_rate
        first = int(round(frame.pts * frame.time_base * rate))
        n = frame.samples
        t0, t1 = first / rate, (first + n) / rate
        hit = [r for r in self.ranges if r.end > t0 and r.start < t1]
        if not hit:
            return frame
        data = frame.to_ndarray().copy()
        # Planar: (channels, n); packed: (1, n * channels) -> view as (n, channels) columns.
        view = data if frame.format.is_planar else data.reshape(n, -1).T
        for r in hit:
            a = max(0, int(np.ceil((r.start - t0) * rate)))
            b = min(n, int(np.ceil((r.end - t0) * rate)))
            if r.mode == "mute":
                view[:, a:b] = 0 if view.dtype.kind != "u" else 128
            else:
                scale = 1.0 if view.dtype.kind == "f" else float(np.iinfo(view.dtype).max)
                view[:, a:b] = (tone(b - a, rate, first + a) * scale).astype(view.dtype)
        new = av.AudioFrame.from_ndarray(data, format=frame.format.name, layout=frame.layout.name)
        new.sample_rate, new.pts, new.time_base = rate, frame.pts, frame.time_base
        return new
