"""Stream copies: the source's packets, unchanged, in Matroska (remux masters) or MP4 (access copies
of sources that already meet the access profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import av

from ..fanout import Consumer, Writer, FanOut, Source, Wants, mux_copy
from ._io import ArchiveError, Progress, _noop, codec_name

KEEP = ("video", "audio", "subtitle")

#: Muxer options that make the same packets give the same bytes on every run and machine:
#: no random Matroska segment/track UIDs, no muxing date, no library version strings.
BITEXACT = {"fflags": "+bitexact"}


def first_streams(container: av.container.InputContainer) -> list[av.stream.Stream]:
    """The first video stream that is not cover art, and the first audio stream (those present)."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    return [s for s in (videos[:1] + list(container.streams.audio[:1]))]


class RemuxWriter(Writer):
    """Stream-copies packets of a shared pass (:mod:`media.fanout`) into a new file.

    Parameters
    ----------
    dest : path-like
        Written directly (see :func:`media.archive.make_master` for all-or-nothing output).
    format : str
        ``"matroska"`` (masters: every video, audio and subtitle stream) or ``"mp4"`` (access
        copies: the first video and first audio stream, index first).
    tags : mapping, optional
        Global tags.
    progress : callable, optional
        ``progress(stage, seconds_done, seconds_total)``.
    stage : str
        The progress stage name.

    Attributes
    ----------
    report : dict
        ``streams`` kept and ``dropped``.
    """

    name = "remux"

    def __init__(
        self,
        dest: Path | str,
        *,
        format: str = "matroska",
        tags: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        stage: str = "remux",
    ) -> None:
        self.dest, self.format, self.tags = Path(dest), format, dict(tags or {})
        self.progress, self.stage = progress or _noop, stage
        self.report: dict = {"streams": [], "dropped": []}
        self.out = None

    def start(self, source: Source) -> Wants:
        inp = source.container
        self.name_of_source = source.path.name
        self.total = source.duration
        self.start_time = inp.start_time / 1e6 if inp.start_time else 0.0
        options = dict(BITEXACT)
        if self.format == "mp4":
            options["movflags"] = "+faststart"
            chosen = {s.index for s in first_streams(inp)}
        else:
            chosen = {s.index for s in inp.streams if s.type in KEEP}
        self.out = av.open(str(self.dest), "w", format=self.format, container_options=options)
        for key, value in self.tags.items():
            self.out.metadata[key] = str(value)
        self.mapping = {}
        for s in inp.streams:
            if s.index not in chosen:
                self.report["dropped"].append({"index": s.index, "kind": s.type})
                continue
            try:
                o = self.out.add_stream_from_template(s)
            except ValueError as e:  # PyAV refuses codecs the container has no official ID for
                raise ArchiveError(
                    f"{self.format.capitalize()} cannot carry {codec_name(s.codec_context)} ({self.name_of_source}, "
                    f"stream {s.index}) by stream copy; use the ffv1 profile"
                ) from e
            o.codec_context.codec_tag = "\0\0\0\0"  # the source container's fourccs mean nothing here
            self.mapping[s.index] = o
            self.report["streams"].append({"index": s.index, "kind": s.type, "codec": codec_name(s.codec_context), "action": "copy"})
        if not self.mapping:
            raise ArchiveError(f"{self.name_of_source} has no stream to keep")
        self.n = 0
        return Wants(packets=set(self.mapping))

    def packet(self, packet: av.Packet) -> None:
        mux_copy(self.out, packet, self.mapping[packet.stream.index], pts_from_dts=True)
        self.n += 1
        if self.n % 64 == 0 and packet.pts is not None and packet.time_base:
            self.progress(self.stage, float(packet.pts * packet.time_base) - self.start_time, self.total)

    def finish(self) -> None:
        self.close_output()  # writes the index (and, for MP4, moves it to the front)
        self.progress(self.stage, self.total, self.total)


def run_alone(source: Path | str, consumers: list[Consumer]) -> None:
    """Run ``consumers`` in one pass over ``source`` and raise the first one's error, if any."""
    outcome = FanOut(source, consumers).run()
    for c in consumers:
        if c in outcome.errors:
            raise outcome.errors[c]


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
    Data streams (MP4 timecode tracks) have no place in Matroska and are dropped and listed. The
    file is bit-exact: the same source and tags give the same bytes (:data:`BITEXACT`).

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
    writer = RemuxWriter(dest, tags=tags, progress=progress)
    run_alone(source, [writer])
    return writer.report
