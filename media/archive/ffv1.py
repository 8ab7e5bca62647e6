"""FFV1 version 3 masters in Matroska, decoded once from the source and proved frame by frame."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Mapping

import av
import numpy as np

from ..fanout import Writer, Source, Wants, mux_copy, restoring
from ._io import ArchiveError, Progress, _noop, codec_name
from .digest import FRAMES, PACKETS, SAMPLES, SourceDigests
from .policy import FFV1Options
from .remux import BITEXACT, run_alone

#: Source pixel formats FFV1 cannot hold, and the lossless format each becomes. The ``yuvj``
#: formats are the same samples as ``yuv`` with full range implied; the range is written to the
#: stream instead. FFmpeg's FFV1 encoder takes 8-bit RGB only as ``bgr0`` (it has no 8-bit
#: ``gbrp``; it codes RGB as planes internally), so packed RGB becomes ``bgr0``: the same
#: numbers in another order, plus an unused byte.
FFV1_PIX_FMT = {
    "yuvj420p": "yuv420p",
    "yuvj422p": "yuv422p",
    "yuvj444p": "yuv444p",
    "yuvj440p": "yuv440p",
    "yuvj411p": "yuv411p",
    "rgb24": "bgr0",
    "bgr24": "bgr0",
    "rgb0": "bgr0",
    "0rgb": "bgr0",
}
RGB = {"rgb24", "bgr24", "rgb0", "0rgb", "bgr0", "gbrp"}

#: Audio codecs Matroska holds as they are: stream-copied, bit for bit.
COPY_AUDIO = {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "mp2", "alac"}
#: Decoded sample formats FLAC stores exactly.
FLAC_SAMPLE_FMT = {"s16": "s16", "s16p": "s16", "s32": "s32", "s32p": "s32"}


def ffv1_pix_fmt(pix_fmt: str) -> str:
    """The pixel format a source's pictures are stored in, without changing a sample value."""
    fmt = FFV1_PIX_FMT.get(pix_fmt, pix_fmt)
    supported = av.codec.Codec("ffv1", "w").video_formats or []
    if fmt not in {f.name for f in supported}:
        raise ArchiveError(f"FFV1 cannot hold pixel format {pix_fmt!r} losslessly")
    return fmt


def audio_action(codec: str, sample_fmt: str | None) -> str:
    """``"copy"`` or ``"flac"`` for a source audio stream.

    PCM (and G.711, whose decoded samples are 16-bit integers) goes to FLAC when its decoded
    samples are integers FLAC stores exactly; compressed audio Matroska can hold is copied,
    because decoding lossy audio and storing the samples is not the same bits. Anything else is
    copied too, where the muxer accepts it (float PCM, ADPCM).
    """
    if codec in COPY_AUDIO:
        return "copy"
    if (codec.startswith("pcm_") or codec in ("adpcm_g726",)) and sample_fmt in FLAC_SAMPLE_FMT:
        return "flac"
    return "copy"


def digest_methods(container: av.container.InputContainer) -> dict[int, str]:
    """How the proof compares each stream an FFV1 master keeps: video by decoded frames, audio
    stored as FLAC by decoded samples, copied audio by packets."""
    out = {}
    for s in container.streams:
        cc = s.codec_context
        if s.type == "video":
            out[s.index] = FRAMES
        elif s.type == "audio":
            act = audio_action(codec_name(cc), cc.format.name if cc.format else None)
            out[s.index] = SAMPLES if act == "flac" else PACKETS
    return out


def _rate(stream: av.video.stream.VideoStream) -> Fraction:
    return stream.average_rate or stream.guessed_rate or Fraction(25)


class FFV1Writer(Writer):
    """Writes an FFV1 master from the frames of a shared pass (:mod:`media.fanout`).

    Every video stream is decoded (fully: the pass never skips pictures for an encoder) and
    encoded to FFV1 in a pixel format that keeps each sample (:data:`FFV1_PIX_FMT`) with its
    colour range, primaries, transfer and matrix recorded; audio is stream-copied or stored as
    FLAC (:func:`audio_action`); data streams are dropped and listed. The file is bit-exact (the
    same source gives the same bytes whatever the thread count: FFV1's slices are fixed).

    Parameters
    ----------
    dest : path-like
        Written directly (see :func:`media.archive.make_master` for all-or-nothing output).
    options : FFV1Options, optional
    tags : mapping, optional
        Matroska global tags (``SOURCE_SHA256``, ``DEVICE`` ...).
    progress : callable, optional
        ``progress("transcode", seconds_done, seconds_total)``.
    threads : int, optional
        Encoder threads; None: ``options.threads``.

    Attributes
    ----------
    report : dict
        ``streams``: what became of each source stream; ``dropped``: streams not kept.
    """

    name = "ffv1"

    def __init__(
        self,
        dest: Path | str,
        *,
        options: FFV1Options | None = None,
        tags: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        threads: int | None = None,
    ) -> None:
        self.dest, self.options, self.tags = Path(dest), options or FFV1Options(), dict(tags or {})
        self.progress, self.threads = progress or _noop, threads
        self.report: dict = {"streams": [], "dropped": []}
        self.out = None

    def start(self, source: Source) -> Wants:
        inp, options, report = source.container, self.options, self.report
        self.total = source.duration
        self.out = out = av.open(str(self.dest), "w", format="matroska", container_options=BITEXACT)
        for key, value in self.tags.items():
            out.metadata[key] = str(value)
        self.plan = plan = {}
        for s in inp.streams:
            cc = s.codec_context
            if s.type == "video":
                src_fmt = cc.pix_fmt or cc.format.name
                fmt = ffv1_pix_fmt(src_fmt)
                o = out.add_stream("ffv1", rate=_rate(s))
                occ = o.codec_context
                occ.width, occ.height, occ.pix_fmt = cc.width, cc.height, fmt
                occ.time_base = s.time_base
                occ.options = {**options.codec_options(), "flags": "+bitexact"}
                occ.gop_size = options.gop
                occ.thread_type = "SLICE"
                occ.thread_count = self.threads if self.threads is not None else options.threads
                if cc.sample_aspect_ratio:
                    occ.sample_aspect_ratio = cc.sample_aspect_ratio
                full = src_fmt.startswith("yuvj") or cc.color_range == 2 or fmt in RGB
                occ.color_range = 2 if full else (cc.color_range or 0)
                for attr in ("color_primaries", "color_trc", "colorspace"):
                    if getattr(cc, attr, None):
                        setattr(occ, attr, getattr(cc, attr))
                plan[s.index] = ("ffv1", o)
                report["streams"].append(
                    {"index": s.index, "kind": "video", "codec": codec_name(cc), "action": "ffv1",
                     "pix_fmt": src_fmt, "stored_as": fmt, "color_range": "pc" if full else "tv" if occ.color_range == 1 else None}
                )
            elif s.type == "audio":
                act = audio_action(codec_name(cc), cc.format.name if cc.format else None)
                if act == "flac":
                    o = out.add_stream("flac", rate=cc.sample_rate)
                    o.codec_context.layout = cc.layout
                    o.codec_context.format = FLAC_SAMPLE_FMT[cc.format.name]
                    o.codec_context.options = {"flags": "+bitexact"}
                else:
                    o = out.add_stream_from_template(s)
                    o.codec_context.codec_tag = "\0\0\0\0"
                plan[s.index] = (act, o)
                report["streams"].append({"index": s.index, "kind": "audio", "codec": codec_name(cc), "action": act})
            else:
                report["dropped"].append({"index": s.index, "kind": s.type, "codec": codec_name(cc) if cc else None})
        if not any(a == "ffv1" for a, _ in plan.values()):
            raise ArchiveError(f"{source.path.name} has no video stream to keep as FFV1")
        self.last_pts: dict[int, int] = {}
        copies = {i for i, (act, _) in plan.items() if act == "copy"}
        return Wants(packets=copies, frames=set(plan) - copies)

    def packet(self, packet: av.Packet) -> None:
        mux_copy(self.out, packet, self.plan[packet.stream.index][1])

    def video(self, frame: av.VideoFrame, stream) -> None:
        i = stream.index
        o = self.plan[i][1]
        with restoring(frame, "pts", "time_base", "color_range"):  # the frame is shared with other consumers
            stored = _as_stored(frame, o.codec_context)
            # Matroska needs rising timestamps; a missing or repeated pts (AVI with packed
            # B-frames) takes the next tick instead of failing the master.
            if stored.pts is None or (i in self.last_pts and stored.pts <= self.last_pts[i]):
                stored.pts = self.last_pts.get(i, -1) + 1
            self.last_pts[i] = stored.pts
            if frame.time is not None:
                self.progress("transcode", frame.time, self.total)
            self.out.mux(o.encode(stored))

    def audio(self, frame: av.AudioFrame, stream) -> None:
        o = self.plan[stream.index][1]
        with restoring(frame, "pts", "time_base"):
            self.out.mux(o.encode(frame))

    def finish(self) -> None:
        for act, o in self.plan.values():
            if act != "copy":
                self.out.mux(o.encode(None))
        self.close_output()
        self.progress("transcode", self.total, self.total)


def transcode_ffv1(
    source: Path | str,
    dest: Path | str,
    *,
    options: FFV1Options | None = None,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    digest: str | None = "sha256",
) -> dict:
    """Write an FFV1 master of ``source`` to ``dest`` (Matroska) in one pass (:class:`FFV1Writer`).

    This writes ``dest`` directly: callers wanting all-or-nothing output use
    :func:`media.archive.make_master`, which writes to a temporary file and verifies first.

    Parameters
    ----------
    source, dest : path-like
    options : FFV1Options, optional
    tags : mapping, optional
        Matroska global tags (``SOURCE_SHA256``, ``DEVICE`` ...).
    progress : callable, optional
        ``progress("transcode", seconds_done, seconds_total)``.
    digest : str or None
        ``hashlib`` name: hash every kept source stream in the same pass (decoded frames,
        samples or packets, as the proof compares them), for
        :func:`~media.archive.digest.verify_lossless`; ``None`` to skip.

    Returns
    -------
    dict
        ``streams``: what became of each source stream; ``dropped``: streams not kept;
        ``source_digests``: stream index to :class:`~media.archive.digest.StreamDigest`.
    """
    writer = FFV1Writer(dest, options=options, tags=tags, progress=progress)
    consumers: list = [writer]
    hasher = None
    if digest:
        # first: it must see each frame before anything is done with it
        hasher = SourceDigests(digest_methods, algorithm=digest)
        consumers = [hasher, writer]
    run_alone(source, consumers)
    report = dict(writer.report)
    report["source_digests"] = {d.index: d for d in (hasher.digests if hasher else []) if not d.normalised}
    return report


def _as_stored(frame: av.VideoFrame, occ) -> av.VideoFrame:
    """The frame in the master's pixel format, every sample value unchanged."""
    fmt = occ.pix_fmt
    if frame.format.name == fmt:
        out = frame
    elif frame.format.name.startswith("yuvj"):
        out = _relabel(frame, fmt)
    elif fmt == "bgr0":
        out = _to_bgr0(frame)
    else:
        raise ArchiveError(f"no lossless path from {frame.format.name} to {fmt}")
    if out is not frame:
        out.pts, out.time_base = frame.pts, frame.time_base
    out.color_range = occ.color_range
    return out


def _relabel(frame: av.VideoFrame, fmt: str) -> av.VideoFrame:
    """A copy of ``frame`` under pixel format ``fmt`` of the same plane layout (yuvj -> yuv)."""
    out = av.VideoFrame(frame.width, frame.height, fmt)
    for src, dst in zip(frame.planes, out.planes):
        width = min(src.line_size, dst.line_size, src.width)  # 8-bit planar: one byte a sample
        a = np.frombuffer(src, np.uint8).reshape(src.height, src.line_size)
        b = np.frombuffer(dst, np.uint8).reshape(dst.height, dst.line_size)
        b[:, :width] = a[:, :width]
    return out


def _to_bgr0(frame: av.VideoFrame) -> av.VideoFrame:
    """Packed RGB in ``bgr0`` order; the fourth byte is zero."""
    from .digest import frame_pixels  # canonical RGB, (h, w, 3)

    rgb = frame_pixels(frame)
    out = av.VideoFrame(frame.width, frame.height, "bgr0")
    p = out.planes[0]
    view = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : frame.width * 4]
    view = view.reshape(frame.height, frame.width, 4)
    view[..., :3] = rgb[..., ::-1]
    view[..., 3] = 0
    return out
