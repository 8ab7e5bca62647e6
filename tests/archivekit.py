"""Shared pieces of the archive tests (tests/archive): probed recordings, findings as plain data,
clips re-encoded from others."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import av

from media.model import Recording, TimeSource
from media.probe import probe


def recording_of(path: Path) -> Recording:
    """The probed recording of ``path``, as the intake makes it (device CAM-1, a fixed start)."""
    p = probe(path)
    return Recording(
        path=str(path), name=path.name, size=p.size, sha256=p.sha256, container=p.container, streams=p.streams,
        duration=p.duration, start=datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc), start_source=TimeSource.FILENAME,
        device_id="CAM-1",
    )


def events_of(result) -> list[dict]:
    """The events of a :class:`media.gaps.qc.QCResult` as JSON-ready dicts."""
    return [e.model_dump(mode="json") for e in result.events]


def reencode(
    source: Path, dest: Path, codec: str, *, options: dict[str, str] | None = None, fmt: str | None = None,
    codec_tag: str | None = None,
) -> Path:
    """``source``'s first video stream decoded and encoded again with ``codec`` (its frame types
    left to the encoder), its first audio stream copied."""
    with av.open(str(source)) as inp, av.open(str(dest), "w", format=fmt) as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        v = out.add_stream(codec, rate=vin.average_rate)
        v.width, v.height, v.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        v.codec_context.time_base = vin.time_base
        v.codec_context.options = dict(options or {})
        if codec_tag:
            v.codec_context.codec_tag = codec_tag
        a = out.add_stream_from_template(ain)
        for packet in inp.demux(vin, ain):
            if packet.stream is ain:
                if packet.size:
                    packet.stream = a
                    out.mux(packet)
                continue
            for frame in packet.decode():
                frame.pict_type = 0  # the source's frame types mean nothing to this encoder
                out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return dest
