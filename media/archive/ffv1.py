"""FFV1 version 3 masters in Matroska, decoded once from the source and proved frame by frame."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Mapping

import av
import numpy as np

from ._io import ArchiveError, Progress, _noop, codec_name
from .digest import FRAMES, SAMPLES, StreamHasher
from .policy import FFV1Options

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


def _rate(stream: av.video.stream.VideoStream) -> Fraction:
    return stream.average_rate or stream.guessed_rate or Fraction(25)


def transcode_ffv1(
    source: Path | str,
    dest: Path | str,
    *,
    options: FFV1Options | None = None,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    digest: str | None = "sha256",
) -> dict:
    """Write an FFV1 master of ``source`` to ``dest`` (Matroska), streaming.

    Every video stream is decoded and encoded to FFV1 in a pixel format that keeps each sample
    (:data:`FFV1_PIX_FMT`) with its colour range, primaries, transfer and matrix recorded; audio
    is stream-copied or stored as FLAC (:func:`audio_action`); data streams are dropped and
    listed. This writes ``dest`` directly: callers wanting all-or-nothing output use
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
        ``hashlib`` name: hash every decoded source frame (and PCM sample) on the way, for
        :func:`~media.archive.digest.verify_lossless`; ``None`` to skip.

    Returns
    -------
    dict
        ``streams``: what became of each source stream; ``dropped``: streams not kept;
        ``source_digests``: stream index to :class:`~media.archive.digest.StreamDigest`.
    """
    options = options or FFV1Options()
    progress = progress or _noop
    report: dict = {"streams": [], "dropped": []}
    with av.open(str(source)) as inp, av.open(str(dest), "w", format="matroska") as out:
        total = inp.duration / 1e6 if inp.duration else 0.0
        for key, value in (tags or {}).items():
            out.metadata[key] = str(value)
        plan: dict[int, tuple[str, object]] = {}
        for s in inp.streams:
            cc = s.codec_context
            if s.type == "video":
                s.thread_type = "AUTO"
                src_fmt = cc.pix_fmt or cc.format.name
                fmt = ffv1_pix_fmt(src_fmt)
                o = out.add_stream("ffv1", rate=_rate(s))
                occ = o.codec_context
                occ.width, occ.height, occ.pix_fmt = cc.width, cc.height, fmt
                occ.time_base = s.time_base
                occ.options = options.codec_options()
                occ.gop_size = options.gop
                occ.thread_type, occ.thread_count = "SLICE", options.threads
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
                else:
                    o = out.add_stream_from_template(s)
                    o.codec_context.codec_tag = "\0\0\0\0"
                plan[s.index] = (act, o)
                report["streams"].append({"index": s.index, "kind": "audio", "codec": codec_name(cc), "action": act})
            else:
                report["dropped"].append({"index": s.index, "kind": s.type, "codec": codec_name(cc) if cc else None})
        if not any(a == "ffv1" for a, _ in plan.values()):
            raise ArchiveError(f"{Path(source).name} has no video stream to keep as FFV1")
        hashers = {}
        if digest:
            for i, (act, _) in plan.items():
                if act != "copy":
                    hashers[i] = StreamHasher(inp.streams[i], FRAMES if act == "ffv1" else SAMPLES, algorithm=digest)
        last_pts: dict[int, int] = {}
        streams = [inp.streams[i] for i in plan]
        for packet in inp.demux(streams):
            act, o = plan[packet.stream.index]
            if act == "copy":
                if packet.dts is None and packet.size == 0:
                    continue
                packet.stream = o
                out.mux(packet)
                continue
            for frame in packet.decode():
                if packet.stream.index in hashers:
                    hashers[packet.stream.index].frame(frame)
                if act == "ffv1":
                    frame = _as_stored(frame, o.codec_context)
                    i = packet.stream.index
                    # Matroska needs rising timestamps; a missing or repeated pts (AVI with
                    # packed B-frames) takes the next tick instead of failing the master.
                    if frame.pts is None or (i in last_pts and frame.pts <= last_pts[i]):
                        frame.pts = last_pts.get(i, -1) + 1
                    last_pts[i] = frame.pts
                    if frame.time is not None:
                        progress("transcode", frame.time, total)
                out.mux(o.encode(frame))
        for act, o in plan.values():
            if act != "copy":
                out.mux(o.encode(None))
    progress("transcode", total, total)
    report["source_digests"] = {i: h.finish() for i, h in hashers.items()}
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
