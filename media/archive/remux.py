"""Remux masters: the source's packets, unchanged, in Matroska."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import av

from ._io import ArchiveError, Progress, _noop, codec_name

KEEP = ("video", "audio", "subtitle")


def remux(
    source: Path | str,
    dest: Path | str,
    *,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Stream-copy the video, audio and subtitle streams of ``source`` into Matroska at ``dest``.

    Nothing is decoded; packets keep their bytes (the Matroska muxer rewrites H.264/H.265 Annex B
    start codes as length prefixes and strips AAC ADTS headers, which verification allows for).
    Data streams (MP4 timecode tracks) have no place in Matroska and are dropped and listed.

    Parameters
    ----------
    source, dest : path-like
    tags : mapping, optional
        Matroska global tags.
    progress : callable, optional
        ``progress("remux", seconds_done, seconds_total)``.

    Returns
    -------
    dict
        ``streams`` kept and ``dropped``.
    """
    progress = progress or _noop
    report: dict = {"streams": [], "dropped": []}
    with av.open(str(source)) as inp, av.open(str(dest), "w", format="matroska") as out:
        total = inp.duration / 1e6 if inp.duration else 0.0
        for key, value in (tags or {}).items():
            out.metadata[key] = str(value)
        mapping = {}
        for s in inp.streams:
            if s.type not in KEEP:
                report["dropped"].append({"index": s.index, "kind": s.type})
                continue
            try:
                o = out.add_stream_from_template(s)
            except ValueError as e:  # PyAV refuses codecs Matroska has no official ID for
                raise ArchiveError(
                    f"Matroska cannot carry {codec_name(s.codec_context)} ({Path(source).name}, stream {s.index}) "
                    "by stream copy; use the ffv1 profile"
                ) from e
            o.codec_context.codec_tag = "\0\0\0\0"  # MP4/AVI fourccs mean nothing to Matroska
            mapping[s.index] = o
            report["streams"].append({"index": s.index, "kind": s.type, "codec": codec_name(s.codec_context), "action": "copy"})
        if not mapping:
            raise ArchiveError(f"{Path(source).name} has no stream to keep")
        start = inp.start_time / 1e6 if inp.start_time else 0.0
        n = 0
        for packet in inp.demux([inp.streams[i] for i in mapping]):
            if packet.size == 0 and packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            if packet.pts is None and packet.dts is not None:
                packet.pts = packet.dts  # AVI leaves pts out; Matroska needs one
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
            n += 1
            if n % 64 == 0 and packet.pts is not None and packet.time_base:
                progress("remux", float(packet.pts * packet.time_base) - start, total)
    progress("remux", total, total)
    return report
