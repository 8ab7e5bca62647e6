"""Canonical digests of decoded frames, decoded samples and packet payloads.

A lossless master is proved by comparing these digests between the source and the master, the
way ``ffmpeg -f framemd5`` does: one digest per decoded video frame (its pixels, padding left
out), a running digest over the decoded audio samples, and one digest per packet payload for
stream-copied streams. Everything is streamed: a file is read once per pass and only running
hashes are kept, so memory does not grow with duration.

Pixel formats that carry the same samples in another layout are compared as the same picture:
``yuvj420p`` and ``yuv420p`` (the range is checked separately), ``rgb24``, ``bgr24``, ``bgr0``
and ``gbrp`` (all compared as ``(h, w, 3)`` RGB arrays). Container framings that change the bytes but not the bitstream are
normalised: H.264/H.265 Annex B start codes against length prefixes, AAC ADTS headers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..fanout import Consumer, Wants
from ._io import Progress, VerificationError, _noop, codec_name

FRAMES = "frames"
SAMPLES = "samples"
PACKETS = "packets"

_BGR = {"bgr24"}
#: Packed 4-byte RGB formats PyAV has no array layout for: byte offsets of R, G, B (, A).
_RGB32 = {"bgr0": (2, 1, 0), "bgra": (2, 1, 0, 3), "rgb0": (0, 1, 2), "rgba": (0, 1, 2, 3), "0rgb": (1, 2, 3), "argb": (1, 2, 3, 0)}


@dataclass
class StreamDigest:
    """What one stream of one file hashes to under one method."""

    index: int
    kind: str
    codec: str
    method: str
    units: int = 0  # frames, samples or packets
    digest: str = ""
    detail: dict = field(default_factory=dict)
    normalised: bool = False  # packets: container framing removed before hashing


def frame_pixels(frame: av.VideoFrame) -> np.ndarray:
    """The visible pixels of ``frame`` as a contiguous array in a layout-independent order.

    Parameters
    ----------
    frame : av.VideoFrame

    Returns
    -------
    numpy.ndarray
        ``to_ndarray()`` of the frame (planar YUV stacked, RGB-family as ``(h, w, 3)`` in RGB
        order), or the planes' visible bytes where PyAV has no array layout for the format.
    """
    name = frame.format.name
    if name in _RGB32:
        p = frame.planes[0]
        packed = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : frame.width * 4]
        return np.ascontiguousarray(packed.reshape(frame.height, frame.width, 4)[..., list(_RGB32[name])])
    try:
        arr = frame.to_ndarray()
    except (ValueError, TypeError):
        rows = []
        for plane in frame.planes:
            buf = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            width = plane.width * max(1, sum((c.bits + 7) // 8 for c in frame.format.components if c.plane == plane.index))
            rows.append(buf[:, :width].ravel())
        return np.concatenate(rows)
    if name in _BGR:
        arr = arr[..., ::-1]
    return np.ascontiguousarray(arr)


def frame_digest(frame: av.VideoFrame, algorithm: str = "sha256") -> bytes:
    """Digest of one decoded frame's size and pixels (see :func:`frame_pixels`)."""
    h = hashlib.new(algorithm)
    h.update(f"{frame.width}x{frame.height}".encode())
    h.update(frame_pixels(frame).data)
    return h.digest()


def frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """Decoded samples of ``frame``, interleaved, in the decoder's sample format."""
    arr = frame.to_ndarray()
    if frame.format.is_planar:
        arr = arr.T
    return np.ascontiguousarray(arr)


# -- packet framing -----------------------------------------------------------------------------


def _framing(stream: av.stream.Stream) -> tuple[str, int]:
    """How a stream frames its packets: ``("raw", 0)``, ``("annexb", 0)``, ``("lp", n)``, ``("adts", 0)``."""
    codec = codec_name(stream.codec_context)
    extradata = bytes(stream.codec_context.extradata or b"")
    if codec in ("h264", "hevc"):
        if len(extradata) < 7 or extradata[:3] == b"\0\0\1" or extradata[:4] == b"\0\0\0\1":
            return ("annexb", 0)
        if codec == "h264":
            return ("lp", (extradata[4] & 3) + 1)
        if len(extradata) > 22:
            return ("lp", (extradata[21] & 3) + 1)
        return ("annexb", 0)
    if codec == "aac" and not extradata:
        return ("adts", 0)
    return ("raw", 0)


def _nal_units(data: bytes, framing: tuple[str, int]) -> Iterator[bytes]:
    if framing[0] == "lp":
        n, pos = framing[1], 0
        while pos + n <= len(data):
            size = int.from_bytes(data[pos : pos + n], "big")
            yield data[pos + n : pos + n + size]
            pos += n + size
        return
    starts = []
    pos = data.find(b"\0\0\1")
    while pos >= 0:
        starts.append(pos + 3)
        pos = data.find(b"\0\0\1", pos + 3)
    for i, s in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        yield data[s:end].rstrip(b"\0")  # trailing_zero_8bits and 4-byte start codes


def canonical_payload(data: bytes, framing: tuple[str, int], normalise: bool) -> bytes:
    """Packet bytes with container framing removed where ``normalise`` asks for it."""
    if not normalise or framing[0] == "raw":
        return data
    if framing[0] == "adts":
        if len(data) >= 7 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0:
            return data[7 if data[1] & 1 else 9 :]
        return data
    return b"".join(len(n).to_bytes(4, "big") + n for n in _nal_units(data, framing))


# -- whole-file passes --------------------------------------------------------------------------


@dataclass
class Plan:
    """Which streams of a file to hash, and how."""

    methods: dict[int, str]  # stream index -> method
    normalise: dict[int, bool] = field(default_factory=dict)  # packets: strip framing


def _total(container: av.container.InputContainer) -> float:
    return container.duration / 1e6 if container.duration else 0.0


class StreamHasher:
    """Running digest of one stream, fed packet by packet or frame by frame.

    The transcoder feeds it the source frames it encodes, so a master's proof needs only one
    more decode (of the master), not two.
    """

    def __init__(self, stream: av.stream.Stream, method: str, *, normalise: bool = False, algorithm: str = "sha256"):
        self.algorithm, self.method, self.normalise = algorithm, method, normalise
        self.framing = _framing(stream)
        self.result = StreamDigest(stream.index, stream.type, codec_name(stream.codec_context), method, normalised=normalise)
        self._h = hashlib.new(algorithm)

    def packet(self, packet: av.Packet) -> None:
        if packet.size == 0:
            return
        payload = canonical_payload(bytes(packet), self.framing, self.normalise)
        self._h.update(hashlib.new(self.algorithm, payload).digest())
        self.result.units += 1

    def frame(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        if self.method == FRAMES:
            self._h.update(frame_digest(frame, self.algorithm))
            self.result.units += 1
        else:
            self._h.update(frame_samples(frame).data)
            self.result.units += frame.samples
            self.result.detail = {"format": frame.format.name, "rate": frame.sample_rate, "channels": frame.layout.nb_channels}

    def finish(self) -> StreamDigest:
        self.result.digest = self._h.hexdigest()
        return self.result


@dataclass(frozen=True)
class StreamFacts:
    """What the proof needs to know of one stream, read while the file is open."""

    index: int
    kind: str
    codec: str
    framing: tuple[str, int]
    pix_fmt: str | None = None
    color_range: int = 0


def describe(container: av.container.Container) -> list[StreamFacts]:
    """:class:`StreamFacts` of every stream of an open file."""
    out = []
    for s in container.streams:
        cc = s.codec_context
        out.append(StreamFacts(
            s.index, s.type, codec_name(cc) if cc is not None else "", _framing(s) if cc is not None else ("raw", 0),
            (cc.pix_fmt if s.type == "video" else None) if cc is not None else None,
            (cc.color_range or 0) if s.type == "video" and cc is not None else 0,
        ))
    return out


class SourceDigests(Consumer):
    """Hashes a source's streams during a shared pass (:mod:`media.fanout`), for the proof.

    Parameters
    ----------
    methods : callable
        Called with the open container at the start of the pass: stream index to :data:`PACKETS`, :data:`FRAMES` or
        :data:`SAMPLES`. Packet streams whose framing a muxer rewrites (Annex B, ADTS) are
        hashed both as they are and normalised, so the proof can use whichever the output needs.
    algorithm : str
        ``hashlib`` name.

    Attributes
    ----------
    digests : list of StreamDigest
        After the pass.
    streams : list of StreamFacts
        The source's streams, described at the start.
    """

    name = "source digests"

    def __init__(self, methods, algorithm: str = "sha256") -> None:
        self.methods, self.algorithm = methods, algorithm
        self.digests: list[StreamDigest] = []
        self.streams: list[StreamFacts] = []

    def start(self, source) -> Wants:
        c = source.container
        self.streams = describe(c)
        self.hashers: dict[int, list[StreamHasher]] = {}
        for i, method in self.methods(c).items():
            s = c.streams[i]
            hs = [StreamHasher(s, method, algorithm=self.algorithm)]
            # start codes and ADTS headers are what muxers rewrite; length-prefixed and raw
            # streams keep their framing (if not, the proof hashes the source again: slower, as sure)
            if method == PACKETS and _framing(s)[0] in ("annexb", "adts"):
                hs.append(StreamHasher(s, method, normalise=True, algorithm=self.algorithm))
            self.hashers[i] = hs
        packets = {i for i, hs in self.hashers.items() if hs[0].method == PACKETS}
        return Wants(packets=packets, frames=set(self.hashers) - packets)

    def packet(self, packet: av.Packet) -> None:
        for h in self.hashers.get(packet.stream.index, ()):
            h.packet(packet)

    def video(self, frame, stream) -> None:
        self.hashers[stream.index][0].frame(frame)

    audio = video

    def finish(self) -> None:
        self.digests = [h.finish() for hs in self.hashers.values() for h in hs]


def digest_file(
    path: Path | str, plan: Plan, *, algorithm: str = "sha256", progress: Progress | None = None
) -> dict[int, StreamDigest]:
    """Hash the streams of ``path`` named in ``plan`` in one streaming pass.

    Returns
    -------
    dict
        Stream index to :class:`StreamDigest`.
    """
    progress = progress or _noop
    with av.open(str(path)) as c:
        total = _total(c)
        streams = [c.streams[i] for i in plan.methods]
        hashers = {}
        for s in streams:
            if plan.methods[s.index] != PACKETS:
                s.thread_type = "AUTO"
            hashers[s.index] = StreamHasher(s, plan.methods[s.index], normalise=plan.normalise.get(s.index, False), algorithm=algorithm)
        for packet in c.demux(streams):
            h = hashers[packet.stream.index]
            if h.method == PACKETS:
                h.packet(packet)
                continue
            for frame in packet.decode():
                h.frame(frame)
                if h.method == FRAMES and frame.time is not None:
                    progress("verify", frame.time, total)
    return {i: h.finish() for i, h in hashers.items()}


def iter_units(path: Path | str, index: int, method: str, normalise: bool = False, algorithm: str = "sha256") -> Iterator[bytes]:
    """The per-frame or per-packet digests of one stream, in order (for locating a mismatch)."""
    with av.open(str(path)) as c:
        s = c.streams[index]
        framing = _framing(s)
        for packet in c.demux(s):
            if method == PACKETS:
                if packet.size:
                    yield hashlib.new(algorithm, canonical_payload(bytes(packet), framing, normalise)).digest()
                continue
            for frame in packet.decode():
                yield frame_digest(frame, algorithm)


def first_difference(a: Iterator[bytes], b: Iterator[bytes]) -> int | None:
    """Index of the first unit where two digest sequences differ (or one ends); ``None`` if equal."""
    sentinel = object()
    i = 0
    while True:
        x, y = next(a, sentinel), next(b, sentinel)
        if x is sentinel and y is sentinel:
            return None
        if x != y:
            return i
        i += 1


# -- pairing and the proof ----------------------------------------------------------------------


def pair_streams(source: av.container.InputContainer, master: av.container.InputContainer) -> list[tuple[int, int]]:
    """Source and master stream indices paired by kind and order (video 0 with video 0 ...).

    Source streams of kinds the master does not carry (``data``, ``attachment``) are left out.
    """
    return _pair(describe(source), describe(master))


def _pair(source: list[StreamFacts], master: list[StreamFacts]) -> list[tuple[int, int]]:
    pairs = []
    for kind in ("video", "audio", "subtitle"):
        src = [s.index for s in source if s.kind == kind]
        dst = [s.index for s in master if s.kind == kind]
        if len(src) != len(dst):
            raise VerificationError(f"source has {len(src)} {kind} stream(s), master {len(dst)}")
        pairs += list(zip(src, dst))
    return pairs


@dataclass
class StreamCheck:
    """One proved stream: source and master index, how it was compared, how many units."""

    source_index: int
    master_index: int
    kind: str
    method: str
    units: int
    digest: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def verify_lossless(
    source: Path | str,
    master: Path | str,
    *,
    algorithm: str = "sha256",
    progress: Progress | None = None,
    source_digests: dict[int, StreamDigest] | list[StreamDigest] | None = None,
    source_streams: list[StreamFacts] | None = None,
    pairs: list[tuple[int, int]] | None = None,
) -> list[StreamCheck]:
    """Prove that ``master`` reproduces ``source`` exactly, stream by stream.

    A master video stream in FFV1 (or any codec other than the source's) is compared frame by
    frame on decoded pixels; an audio stream re-encoded to FLAC on decoded samples; a stream
    whose codec is unchanged (stream copy) packet by packet on payload bytes.

    Parameters
    ----------
    source, master : path-like
    algorithm : str
        ``hashlib`` name of the digest.
    progress : callable, optional
        Called as ``progress("verify", seconds_done, seconds_total)``.
    source_digests : dict, optional
        The source's digests as the transcoder computed them from the frames it encoded (stream
        index to :class:`StreamDigest`); used where their method is the one chosen here, so the
        source is not decoded a second time. :class:`SourceDigests` makes them in a shared pass.
    source_streams : list of StreamFacts, optional
        The source's streams as :func:`describe` gives them; with these and digests for every
        stream compared, the source is not opened at all.
    pairs : list of (int, int), optional
        Source and master stream indices to compare; by default every stream, paired by kind and
        order (:func:`pair_streams`). An access copy remuxed from its source names its two.

    Returns
    -------
    list of StreamCheck

    Raises
    ------
    VerificationError
        On the first stream that differs, naming the stream and the first differing frame or
        packet.
    """
    if source_streams is None:
        with av.open(str(source)) as s:
            source_streams = describe(s)
    with av.open(str(master)) as m:
        master_streams = describe(m)
    src, dst = {f.index: f for f in source_streams}, {f.index: f for f in master_streams}
    if pairs is None:
        pairs = _pair(source_streams, master_streams)
    src_plan, dst_plan = Plan({}), Plan({})
    for si, mi in pairs:
        if src[si].codec == dst[mi].codec:
            method = PACKETS
            normalise = src[si].framing != dst[mi].framing
            src_plan.normalise[si] = dst_plan.normalise[mi] = normalise
        else:
            method = FRAMES if src[si].kind == "video" else SAMPLES
        src_plan.methods[si] = dst_plan.methods[mi] = method
    progress = progress or _noop
    given = list(source_digests.values()) if isinstance(source_digests, dict) else list(source_digests or [])
    known = {
        d.index: d for d in given
        if d.index in src_plan.methods and d.method == src_plan.methods[d.index] and d.digest
        and (d.method != PACKETS or d.normalised == src_plan.normalise.get(d.index, False))
    }
    todo = Plan({i: m for i, m in src_plan.methods.items() if i not in known}, src_plan.normalise)
    half = lambda stage, done, total: progress("verify", done / 2, total)  # noqa: E731
    rest = lambda stage, done, total: progress("verify", (total + done) / 2 if todo.methods else done, total)  # noqa: E731
    a = dict(known)
    if todo.methods:
        a.update(digest_file(source, todo, algorithm=algorithm, progress=half))
    b = digest_file(master, dst_plan, algorithm=algorithm, progress=rest)
    checks = []
    for si, mi in pairs:
        x, y = a[si], b[mi]
        if x.units != y.units or x.digest != y.digest or x.detail != y.detail:
            where = ""
            if x.method in (FRAMES, PACKETS):
                at = first_difference(
                    iter_units(source, si, x.method, src_plan.normalise.get(si, False), algorithm),
                    iter_units(master, mi, x.method, dst_plan.normalise.get(mi, False), algorithm),
                )
                unit = "frame" if x.method == FRAMES else "packet"
                where = f"; first differing {unit}: #{at}" if at is not None else ""
            else:
                where = f"; decoded samples differ ({x.detail} vs {y.detail})"
            raise VerificationError(
                f"master {Path(master).name} does not reproduce {Path(source).name}: {x.kind} stream "
                f"{si} ({x.codec}) vs master stream {mi} ({y.codec}), compared by {x.method}: "
                f"{x.units} vs {y.units} {x.method}{where}"
            )
        checks.append(StreamCheck(si, mi, x.kind, x.method, x.units, x.digest))
    return checks
