"""One demux and decode pass over a media file, fanned out to several consumers.

The gap checks, the FFV1 master and the access copy all need the same decoded pictures and
sound; decoding is the largest cost of each. :class:`FanOut` opens the file once, demuxes the
union of the streams its consumers ask for, decodes a stream only if some consumer wants its
frames, and hands every packet and frame to each consumer that asked for it. It knows nothing
of what the consumers do with them (:mod:`media.gaps.qc`, :mod:`media.archive` each offer theirs).

A consumer (:class:`Consumer`) is told the open file in :meth:`~Consumer.start` and answers with
its :class:`Wants`; then it is fed :meth:`~Consumer.packet`, :meth:`~Consumer.video` and
:meth:`~Consumer.audio` in file order, and :meth:`~Consumer.finish` at the end. A consumer that
raises is dropped from the pass (its error is kept in :attr:`PassResult.errors`); the others go
on, so a file whose master cannot be made still gets its gap checks. Only the current packet and
frame are held: memory stays flat whatever the file's length.

Fast decoding (H.264/HEVC without the loop filter and without non-reference pictures) is used
for a stream only when every consumer of its frames accepts approximate pictures
(``Wants.fast``); an encoder never does.

Consumers share the packet and frame objects: they must leave them as they found them (an
encoder that sets a timestamp restores it, :func:`restoring`; a muxer uses :func:`mux_copy`).

Examples
--------
>>> from media.fanout import FanOut
>>> result = FanOut("cam1.mp4", [checks, master, access]).run()  # doctest: +SKIP
>>> result.errors                                                  # doctest: +SKIP
{}
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import av

#: Decoders that honour skip_loop_filter / skip_frame=NONREF without corrupting pictures.
FAST_CODECS = {"h264", "hevc"}

_opens = 0
_opens_lock = threading.Lock()


def opens() -> int:
    """How many files :class:`FanOut` has opened in this process (each is one decode pass)."""
    return _opens


@dataclass
class Wants:
    """What a consumer asks of the pass.

    Attributes
    ----------
    packets : set of int
        Stream indices whose packets it is fed (:meth:`Consumer.packet`).
    frames : set of int
        Stream indices it wants decoded (:meth:`Consumer.video` / :meth:`Consumer.audio`).
    fast : bool
        It accepts approximate pictures (loop filter and non-reference pictures skipped).
    """

    packets: set[int] = field(default_factory=set)
    frames: set[int] = field(default_factory=set)
    fast: bool = False


@dataclass
class Source:
    """The open file, as consumers see it in :meth:`Consumer.start` and afterwards.

    Attributes
    ----------
    path : Path
    container : av.container.InputContainer
        Open for the whole pass; read its streams and metadata, do not demux it.
    duration : float
        Seconds the container declares (0.0 when unknown), for progress.
    decoding : dict
        Stream index to the decoder settings the pass used (``thread_type``, and
        ``skip_loop_filter``/``skip_frame`` under fast decoding); filled before the first frame.
    """

    path: Path
    container: av.container.InputContainer
    duration: float = 0.0
    decoding: dict[int, dict] = field(default_factory=dict)


class Consumer:
    """Base of the pass's consumers; every hook but :meth:`start` does nothing by default."""

    #: a short name for errors and statistics
    name: str = "consumer"

    def start(self, source: Source) -> Wants:
        """Look at the open file and say what to be fed."""
        raise NotImplementedError

    def packet(self, packet: av.Packet) -> None:
        """One demuxed packet of a stream in :attr:`Wants.packets` (never the end-of-stream marker)."""

    def video(self, frame: av.VideoFrame, stream: av.stream.Stream) -> None:
        """One decoded picture of a stream in :attr:`Wants.frames`."""

    def audio(self, frame: av.AudioFrame, stream: av.stream.Stream) -> None:
        """One decoded sound frame of a stream in :attr:`Wants.frames`."""

    def decode_error(self, packet: av.Packet, error: av.FFmpegError) -> None:
        """A packet of a wanted stream did not decode; by default that ends this consumer."""
        raise error

    def finish(self) -> None:
        """The file ended; flush encoders, close outputs."""

    def close(self) -> None:
        """Always called last (after :meth:`finish`, or after this consumer failed): release resources."""


class Tee(Consumer):
    """Several consumers acting as one: each fed what it asked for, in order; one failure fails all.

    Subclasses may leave ``parts`` empty and fill it in :meth:`start` (a consumer that decides,
    on seeing the file, which writer it needs).
    """

    name = "tee"

    def __init__(self, *parts: Consumer) -> None:
        self.parts = list(parts)
        self._wants: list[Wants] = []

    def start(self, source: Source) -> Wants:
        self._wants = [p.start(source) for p in self.parts]
        takers = [w for w in self._wants if w.frames]
        return Wants(
            packets=set().union(*(w.packets for w in self._wants)),
            frames=set().union(*(w.frames for w in self._wants)),
            fast=all(w.fast for w in takers),
        )

    def packet(self, packet: av.Packet) -> None:
        i = packet.stream.index
        for p, w in zip(self.parts, self._wants):
            if i in w.packets:
                p.packet(packet)

    def video(self, frame: av.VideoFrame, stream: av.stream.Stream) -> None:
        for p, w in zip(self.parts, self._wants):
            if stream.index in w.frames:
                p.video(frame, stream)

    def audio(self, frame: av.AudioFrame, stream: av.stream.Stream) -> None:
        for p, w in zip(self.parts, self._wants):
            if stream.index in w.frames:
                p.audio(frame, stream)

    def decode_error(self, packet: av.Packet, error: av.FFmpegError) -> None:
        for p, w in zip(self.parts, self._wants):
            if packet.stream.index in w.frames:
                p.decode_error(packet, error)

    def finish(self) -> None:
        for p in self.parts:
            p.finish()

    def close(self) -> None:
        first = None
        for p in self.parts:
            try:
                p.close()
            except Exception as exc:  # noqa: BLE001 (close every part, report the first failure)
                first = first or exc
        if first is not None:
            raise first


class Writer(Consumer):
    """A consumer that writes one output container (:attr:`out`), closed whatever happens."""

    out: av.container.OutputContainer | None = None

    def close_output(self) -> None:
        """Close :attr:`out`: writes the trailer (the index); errors propagate."""
        out, self.out = self.out, None
        if out is not None:
            out.close()

    def close(self) -> None:
        if self.out is not None:
            try:
                self.close_output()
            except Exception:  # noqa: BLE001 (already failing; the caller removes the partial file)
                self.out = None


@dataclass
class PassResult:
    """What became of one pass: the consumers that failed, and counts."""

    errors: dict[Consumer, BaseException] = field(default_factory=dict)
    packets: int = 0
    frames: int = 0

    def error_of(self, consumer: Consumer) -> BaseException | None:
        return self.errors.get(consumer)


class FanOut:
    """One demux and decode pass over ``path`` feeding ``consumers``.

    Parameters
    ----------
    path : path-like
        The media file; opened once, read only.
    consumers : sequence of Consumer
        Fed in this order for every packet and frame.
    threads : int, optional
        Decoder threads per video stream (frame and slice threading); None: FFmpeg's default
        (one per core).
    """

    def __init__(self, path: Path | str, consumers: Sequence[Consumer], *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.consumers = list(consumers)
        self.threads = threads

    def run(self) -> PassResult:
        """Make the pass.

        Returns
        -------
        PassResult
            ``errors`` maps each consumer that raised to its exception.

        Raises
        ------
        av.FFmpegError, OSError
            The file cannot be opened or demuxed: no consumer got to the end.
        """
        global _opens
        result = PassResult()
        live = list(self.consumers)
        try:
            with _opens_lock:
                _opens += 1
            with av.open(str(self.path)) as container:
                source = Source(self.path, container, container.duration / 1e6 if container.duration else 0.0)
                wants: dict[Consumer, Wants] = {}
                for c in list(live):
                    try:
                        wants[c] = c.start(source)
                    except Exception as exc:  # noqa: BLE001 (kept per consumer)
                        self._fail(c, exc, live, result)
                self._configure(source, {c: wants[c] for c in live})
                self._loop(container, live, wants, result)
                for c in list(live):
                    try:
                        c.finish()
                    except Exception as exc:  # noqa: BLE001
                        self._fail(c, exc, live, result)
        finally:
            for c in self.consumers:
                try:
                    c.close()
                except Exception as exc:  # noqa: BLE001
                    result.errors.setdefault(c, exc)
        return result

    @staticmethod
    def _fail(c: Consumer, exc: BaseException, live: list[Consumer], result: PassResult) -> None:
        result.errors[c] = exc
        if c in live:
            live.remove(c)

    def _configure(self, source: Source, wants: dict[Consumer, Wants]) -> None:
        """Decoder settings: full decoding unless every consumer of a stream's frames accepts fast."""
        for s in source.container.streams:
            takers = [w for w in wants.values() if s.index in w.frames]
            if not takers or s.type != "video":
                continue
            ctx = s.codec_context
            used = {"thread_type": "AUTO"}
            ctx.thread_type = "AUTO"  # frame threads: the other cores decode too
            if self.threads is not None:
                ctx.thread_count = self.threads
                used["thread_count"] = self.threads
            if all(w.fast for w in takers) and ctx.name in FAST_CODECS:
                ctx.options = {**ctx.options, "skip_loop_filter": "all"}
                ctx.skip_frame = "NONREF"
                used |= {"skip_loop_filter": "all", "skip_frame": "NONREF"}
            source.decoding[s.index] = used

    def _loop(self, container, live: list[Consumer], wants: dict[Consumer, Wants], result: PassResult) -> None:
        def routes() -> tuple[dict[int, list[Consumer]], dict[int, list[Consumer]]]:
            pk: dict[int, list[Consumer]] = {}
            fr: dict[int, list[Consumer]] = {}
            for c in live:
                for i in wants[c].packets:
                    pk.setdefault(i, []).append(c)
                for i in wants[c].frames:
                    fr.setdefault(i, []).append(c)
            return pk, fr

        by_packet, by_frame = routes()
        indices = sorted(set(by_packet) | set(by_frame))
        if not indices:
            return
        streams = [container.streams[i] for i in indices]
        for packet in container.demux(streams):
            i = packet.stream.index
            if packet.size or packet.dts is not None:  # not the demuxer's end-of-stream marker
                result.packets += 1
                for c in by_packet.get(i, ()):
                    try:
                        c.packet(packet)
                    except Exception as exc:  # noqa: BLE001
                        self._fail(c, exc, live, result)
                        by_packet, by_frame = routes()
            takers = by_frame.get(i)
            if not takers:
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as error:
                for c in takers:
                    try:
                        c.decode_error(packet, error)
                    except Exception as exc:  # noqa: BLE001
                        self._fail(c, exc, live, result)
                by_packet, by_frame = routes()
                continue
            video = packet.stream.type == "video"
            for frame in frames:
                result.frames += 1
                for c in by_frame.get(i, ()):
                    try:
                        if video:
                            c.video(frame, packet.stream)
                        else:
                            c.audio(frame, packet.stream)
                    except Exception as exc:  # noqa: BLE001
                        self._fail(c, exc, live, result)
                        by_packet, by_frame = routes()
            if not live:
                return


@contextmanager
def restoring(obj, *names: str) -> Iterator[None]:
    """Put back attributes ``names`` of a shared packet or frame after the block changed them."""
    saved = [(n, getattr(obj, n)) for n in names]
    try:
        yield
    finally:
        for n, v in saved:
            setattr(obj, n, v)


def mux_copy(output: av.container.OutputContainer, packet: av.Packet, stream: av.stream.Stream, *, pts_from_dts: bool = False) -> None:
    """Mux a shared input ``packet`` into ``stream`` of ``output`` and leave the packet as it was.

    Muxing re-targets the packet and rescales its timestamps in place; other consumers of the
    same pass still read them afterwards.
    """
    names = ["stream", "pts", "dts", "duration"] + (["time_base"] if packet.time_base else [])
    with restoring(packet, *names):
        if pts_from_dts and packet.pts is None and packet.dts is not None:
            packet.pts = packet.dts  # AVI leaves pts out; Matroska needs one
        packet.stream = stream
        output.mux(packet)
