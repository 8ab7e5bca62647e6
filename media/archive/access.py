"""Access copies: H.264 in MP4 with the index first, at most 720p, AAC audio. For viewing only."""

from __future__ import annotations

from pathlib import Path

import av

from av.video.reformatter import Interpolation

from ..fanout import Writer, Source, Wants, restoring
from ._io import ArchiveError, Progress, _noop
from .policy import AccessOptions
from .remux import BITEXACT, first_streams, run_alone


def access_size(width: int, height: int, max_width: int = 1280, max_height: int = 720) -> tuple[int, int]:
    """The picture size of the access copy: within the bounds, aspect kept, even numbers.

    Parameters
    ----------
    width, height : int
        Source size.
    max_width, max_height : int
        Bounds; the source is never enlarged.

    Returns
    -------
    (int, int)
    """
    scale = min(1.0, max_width / width, max_height / height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


#: x264 threads when ``AccessOptions.threads`` is 0. x264's frame threads change its motion
#: search, so the thread count is part of the copy's bits: a fixed number, not the machine's core
#: count. One: it is what a process-per-core worker wants anyway, and fewer threads leave x264
#: fewer ways to differ (it was still seen, rarely, to code identical frames differently late in
#: a long test process; see docs/cli.md, Manifests).
X264_THREADS = 1

#: swscale flags: bicubic, and the C reference rounding on every CPU (SIMD paths may round otherwise).
_SCALE = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
_RGB = ("rgb24", "bgr24", "gbrp", "rgba", "bgra", "pal8")


class AccessEncoder(Writer):
    """Encodes the access copy from the frames of a shared pass (:mod:`media.fanout`).

    The first video and first audio stream are encoded into an MP4 at ``dest`` (H.264 and AAC,
    index first). Full-range sources are converted to the limited range players expect; the
    picture is scaled down to the bounds of ``options``. Settings that change bits are fixed (x264
    threads :data:`X264_THREADS`, bit-exact scaling and muxing), so copies are repeatable as far
    as x264 and the AAC encoder are.

    Attributes
    ----------
    info : dict
        Size, codecs and streams of the copy, once started.
    """

    name = "access"

    def __init__(self, dest: Path | str, *, options: AccessOptions | None = None, progress: Progress | None = None) -> None:
        self.dest, self.options, self.progress = Path(dest), options or AccessOptions(), progress or _noop
        self.out = None
        self.info: dict = {}

    def start(self, source: Source) -> Wants:
        options = self.options
        self.total = source.duration
        firsts = first_streams(source.container)
        vin = next((s for s in firsts if s.type == "video"), None)
        ain = next((s for s in firsts if s.type == "audio"), None)
        if vin is None:
            raise ArchiveError(f"{source.path.name} has no video stream")
        self.vin, self.ain = vin, ain
        w, h = access_size(vin.codec_context.width, vin.codec_context.height, options.max_width, options.max_height)
        self.size = (w, h)
        self.out = out = av.open(str(self.dest), "w", format="mp4", container_options={**BITEXACT, "movflags": "+faststart"})
        self.vout = vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 25)
        vcc = vout.codec_context
        vcc.width, vcc.height, vcc.pix_fmt = w, h, "yuv420p"
        vcc.time_base = vin.time_base
        # Limited range, and the matrix swscale keeps (the source's, else BT.601), written into
        # the stream: x264 only signals the range when a colour description is given.
        vcc.color_range = 1
        vcc.colorspace = vin.codec_context.colorspace if vin.codec_context.colorspace not in (0, 2) else 6
        vcc.thread_count = options.threads or X264_THREADS
        vcc.options = {"crf": str(options.crf), "preset": options.preset, "flags": "+bitexact"}
        self.aout = self.resampler = None
        if ain is not None:
            self.aout = aout = out.add_stream("aac", rate=ain.codec_context.sample_rate)
            channels = ain.codec_context.layout.nb_channels if ain.codec_context.layout else 2
            aout.codec_context.layout = "mono" if channels == 1 else "stereo"  # for viewing; more is downmixed
            aout.codec_context.bit_rate = options.audio_bitrate
            aout.codec_context.options = {"flags": "+bitexact"}
            self.resampler = av.AudioResampler(format="fltp", layout=aout.codec_context.layout, rate=aout.codec_context.sample_rate)
        self.last = -1
        self.info = {"width": w, "height": h, "video": "h264", "audio": "aac" if ain is not None else None}
        return Wants(frames={s.index for s in firsts})

    def video(self, frame: av.VideoFrame, stream) -> None:
        w, h = self.size
        full = frame.format.name.startswith("yuvj") or frame.color_range == 2
        src_range = None if frame.format.name in _RGB else "JPEG" if full else "MPEG"
        out_frame = frame.reformat(
            width=w, height=h, format="yuv420p",
            src_color_range=src_range, dst_color_range="MPEG", interpolation=_SCALE,
        )
        if out_frame is frame:  # same size and format: a new frame all the same, the input is shared
            out_frame = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        out_frame.color_range, out_frame.colorspace = 1, self.vout.codec_context.colorspace
        pts = frame.pts if frame.pts is not None and frame.pts > self.last else self.last + 1
        out_frame.pts, out_frame.time_base, self.last = pts, self.vin.time_base, pts
        self.out.mux(self.vout.encode(out_frame))
        if frame.time is not None:
            self.progress("access", frame.time, self.total)

    def audio(self, frame: av.AudioFrame, stream) -> None:
        with restoring(frame, "pts"):
            frame.pts = None  # the resampler counts samples itself
            for f in self.resampler.resample(frame):
                self.out.mux(self.aout.encode(f))

    def finish(self) -> None:
        out = self.out
        out.mux(self.vout.encode(None))
        if self.aout is not None:
            for f in self.resampler.resample(None):
                out.mux(self.aout.encode(f))
            out.mux(self.aout.encode(None))
        self.close_output()  # writes the index and moves it to the front
        self.progress("access", self.total, self.total)


def make_access_copy(
    source: Path | str,
    dest: Path | str,
    *,
    options: AccessOptions | None = None,
    progress: Progress | None = None,
) -> dict:
    """Encode the first video and first audio stream of ``source`` into an MP4 at ``dest``.

    One pass with :class:`AccessEncoder`. Writes ``dest`` directly (see
    :func:`media.archive.make_access` for all-or-nothing output, and for the stream copy of
    sources that already meet the access profile).

    Returns
    -------
    dict
        Size, codecs and streams of the copy.
    """
    encoder = AccessEncoder(dest, options=options, progress=progress)
    run_alone(source, [encoder])
    return encoder.info
