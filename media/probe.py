"""Probe and hash a media file with no more reading than needed.

The SHA-256 is computed over a plain sequential read of the file (exactly what ``sha256sum``
sees), in a thread beside the demuxer: the demuxer seeks (an MP4 camera file keeps its index at
the end), so its reads cannot be hashed, but both read the same pages and the page cache makes
the second read cheap. The demux walks every packet once, without decoding, keeping only running
figures per stream, so memory does not grow with the file. One video frame is decoded to prove
the stream is decodable.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from .model import Event, StreamInfo

HASH_CHUNK = 1 << 20


class MediaError(Exception):
    """A file that cannot be accepted as a recording. ``reason`` is a short stable code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Limits:
    max_width: int = 8192
    max_height: int = 8192
    max_duration_s: float = 24 * 3600.0
    discontinuity_s: float = 1.0


@dataclass
class Probe:
    """What a probe learned about one file."""

    path: Path
    size: int
    sha256: str
    container: str
    duration: float
    streams: list[StreamInfo]
    tags: dict[str, str] = field(default_factory=dict)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def check_name(name: str) -> None:
    """Refuse file names that would be dangerous to pass on (paths, control characters)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise MediaError("hostile_name", f"file name {name!r} is a path, not a name")
    if name.startswith((".", "-")):
        raise MediaError("hostile_name", f"file name {name!r} starts with {name[0]!r}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        raise MediaError("hostile_name", f"file name {name!r} contains control or invisible characters")
    if len(name.encode("utf-8", "surrogateescape")) > 200:
        raise MediaError("hostile_name", f"file name is {len(name)} characters long")


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a sequential read of the file, as ``sha256sum`` computes it."""
    with open(path, "rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def probe(path: Path | str, limits: Limits | None = None) -> Probe:
    """Hash and demux ``path``; raise :class:`MediaError` for anything that is not a sound recording."""
    path = Path(path)
    limits = limits or Limits()
    check_name(path.name)
    try:
        st = path.stat()
    except OSError as exc:
        raise MediaError("unreadable", f"cannot read {path.name}: {exc.strerror}") from None
    if not path.is_file():
        raise MediaError("not_a_file", f"{path.name} is not a regular file")
    if st.st_size == 0:
        raise MediaError("empty", f"{path.name} is empty (0 bytes)")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        digest = pool.submit(sha256_file, path)
        try:
            facts = _demux(path, st.st_size, limits)
        finally:
            sha = digest.result()
    facts.sha256 = sha
    return facts


def _open(path: Path, size: int) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp" or head[:4] == b"RIFF" or head[:4] == b"\x1a\x45\xdf\xa3":
            raise MediaError(
                "truncated", f"{path.name}: a media container whose index cannot be read, truncated or corrupt ({_why(exc)})"
            ) from None
        raise MediaError("not_media", f"{path.name} is not a media file FFmpeg can read ({_why(exc)})") from None


def _demux(path: Path, size: int, limits: Limits) -> Probe:
    with _open(path, size) as container:
        streams = {s.index: _stream_info(s) for s in container.streams}
        if not any(s.kind in ("video", "audio") for s in streams.values()):
            raise MediaError("no_av_streams", f"{path.name} has no video or audio stream")
        for s in streams.values():
            if s.kind == "video" and (
                not s.width or not s.height or s.width > limits.max_width or s.height > limits.max_height
            ):
                raise MediaError(
                    "absurd_dimensions",
                    f"{path.name}: video stream {s.index} is {s.width}x{s.height}, outside 1..{limits.max_width}x{limits.max_height}",
                )
        video = container.streams.video[0] if container.streams.video else None
        decoded_one = video is None
        last_dts: dict[int, float] = {}
        events: list[Event] = []
        truncated_at: float | None = None
        try:
            for packet in container.demux():
                if packet.size == 0 or packet.dts is None and packet.pts is None:
                    continue
                info = streams[packet.stream.index]
                tb = packet.time_base
                pos = packet.pos
                if pos is not None and pos >= 0 and pos + packet.size > size:
                    truncated_at = float(packet.pts * tb) if packet.pts is not None else None
                    break
                info.packets += 1
                info.bytes += packet.size
                if packet.is_keyframe:
                    info.keyframes += 1
                ts = packet.pts if packet.pts is not None else packet.dts
                start = float(ts * tb)
                end = start + float((packet.duration or 0) * tb)
                if info.first_pts is None or start < info.first_pts:
                    info.first_pts = start
                if info.last_end is None or end > info.last_end:
                    info.last_end = end
                if packet.dts is not None:
                    dts = float(packet.dts * tb)
                    prev = last_dts.get(info.index)
                    if prev is not None:
                        step = dts - prev
                        if info.kind == "video":
                            info.max_packet_interval = max(info.max_packet_interval or 0.0, step)
                        nominal = 1.0 / info.fps if info.kind == "video" and info.fps else 0.1
                        if step < 0 or step > nominal + limits.discontinuity_s:
                            events.append(
                                Event(
                                    kind="discontinuity",
                                    file=path.name,
                                    start=prev,
                                    end=dts,
                                    detail={"stream": info.index, "jump_s": round(step, 3)},
                                )
                            )
                    last_dts[info.index] = dts
                if not decoded_one and packet.stream is video:
                    decoded_one = bool(_decode_one(video, packet, path))
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"{path.name}: demuxing failed ({_why(exc)})") from None
        if not decoded_one:
            raise MediaError("undecodable", f"{path.name}: no video frame could be decoded")
        for s in streams.values():
            if s.first_pts is not None and s.last_end is not None:
                s.duration = round(s.last_end - s.first_pts, 6)
        # the picture defines a recording's span; audio encoders pad a few ms past it
        video_spans = [s.duration for s in streams.values() if s.kind == "video" and s.duration]
        audio_spans = [s.duration for s in streams.values() if s.kind == "audio" and s.duration]
        duration = max(video_spans or audio_spans or [0.0])
        declared = container.duration / av.time_base if container.duration else None
        if truncated_at is not None or (declared and duration < declared - max(1.0, 0.05 * declared)):
            raise MediaError(
                "truncated",
                f"{path.name}: truncated; packets stop at {duration:.2f} s of a declared {declared or 0:.2f} s",
            )
        if duration <= 0:
            raise MediaError("empty_media", f"{path.name} holds no audio or video packets")
        if duration > limits.max_duration_s:
            raise MediaError("absurd_duration", f"{path.name}: duration {duration:.0f} s exceeds {limits.max_duration_s:.0f} s")
        chapters = _chapters(container)
        tags = {str(k): str(v) for k, v in container.metadata.items()}
        return Probe(
            path=path,
            size=size,
            sha256="",
            container=container.format.name,
            duration=round(duration, 6),
            streams=list(streams.values()),
            tags=tags,
            chapters=chapters,
            events=events,
        )


def _why(exc: av.error.FFmpegError) -> str:
    """FFmpeg's own words without the full path it appends."""
    return getattr(exc, "strerror", None) or str(exc)


def _decode_one(stream: av.video.stream.VideoStream, packet: av.Packet, path: Path) -> int:
    try:
        return len(stream.codec_context.decode(packet))
    except av.error.FFmpegError:
        # a damaged first packet is common (the stream starts mid-GOP); keep trying later ones
        return 0


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    ctx = stream.codec_context
    info = StreamInfo(
        index=stream.index,
        kind=stream.type,
        codec=(getattr(ctx.codec, "canonical_name", None) or ctx.name) if ctx is not None else None,
        profile=getattr(ctx, "profile", None) if ctx is not None else None,
        time_base=str(stream.time_base) if stream.time_base else None,
        bit_rate=ctx.bit_rate if ctx is not None and ctx.bit_rate else None,
    )
    if stream.type == "video":
        info.width = ctx.width
        info.height = ctx.height
        info.pix_fmt = ctx.pix_fmt
        rng = getattr(ctx, "color_range", 0)
        info.color_range = "pc" if (rng == 2 or (ctx.pix_fmt or "").startswith("yuvj")) else ("tv" if rng == 1 else None)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        info.fps = float(rate) if rate and math.isfinite(float(rate)) and float(rate) > 0 else None
    elif stream.type == "audio":
        info.sample_rate = ctx.sample_rate
        info.channels = ctx.channels if hasattr(ctx, "channels") else None
    return info


def _chapters(container: av.container.InputContainer) -> list[dict[str, Any]]:
    get = getattr(container, "chapters", None)
    if get is None:
        return []
    out = []
    for ch in get():
        tb = ch.get("time_base")
        start, end = ch.get("start"), ch.get("end")
        out.append(
            {
                "id": ch.get("id"),
                "start": float(start * tb) if tb and start is not None else None,
                "end": float(end * tb) if tb and end is not None else None,
                "title": (ch.get("metadata") or {}).get("title"),
            }
        )
    return out
