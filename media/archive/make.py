"""Each output of :mod:`media.archive` made and proved: the master and the access copy as consumers
of one shared decode pass (:class:`MasterWriter`, :class:`AccessWriter`), all or nothing
(:class:`MasterJob`, :class:`AccessJob`), and alone (:func:`make_master`, :func:`make_access`).

Imported from :mod:`media.archive`, whose ``__init__`` loads this module (and with it PyAV and
NumPy) only when one of its names is first used.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import av
from pydantic import BaseModel, Field

from ..fanout import FanOut, PassResult, Source, Tee, Wants
from ..model import Recording
from ._io import ArchiveError, Progress, VerificationError, atomic_output, codec_name, file_sha256
from .access import AccessEncoder
from .digest import SourceDigests, StreamCheck, StreamFacts, describe, verify_lossless
from .estimate import access_remux_refusal
from .ffv1 import RGB, FFV1Writer
from .ffv1 import digest_methods as ffv1_digest_methods
from .policy import AccessOptions, Action, ArchiveSettings, FormatPolicy
from .remux import KEEP, RemuxWriter, first_streams


class ArchiveResult(BaseModel):
    """One finished, verified output beside an original."""

    role: str  # "master" | "access"
    action: str  # "remux" | "ffv1" | "access"
    source: str
    path: str
    size: int
    sha256: str
    checks: list[dict[str, Any]] = Field(default_factory=list)  # one per proved stream
    streams: list[dict[str, Any]] = Field(default_factory=list)
    dropped: list[dict[str, Any]] = Field(default_factory=list)  # source streams not carried
    tags: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0  # wall time spent, verification included
    # access copies: "remux" (the source already meets the access profile: its packets in MP4,
    # proved packet for packet) or "encode" (H.264/AAC encoded, checked by duration); None for
    # masters, whose action says it, and in manifests written before the remux existed ("encode")
    method: str | None = None
    reason: str | None = None  # access copies made by "encode": why the source could not be remuxed


def source_format(path: Path | str) -> tuple[str | None, str]:
    """The first video stream's codec name (``None`` if none) and the container name."""
    with av.open(str(path)) as c:
        v = codec_name(c.streams.video[0].codec_context) if c.streams.video else None
        return v, c.format.name


def decide(path: Path | str, policy: FormatPolicy | None = None) -> Action:
    """The master action the policy gives the file at ``path``."""
    codec, container = source_format(path)
    return (policy or FormatPolicy()).decide(codec, container)


def master_tags(recording: Recording, session_id: str | None = None) -> dict[str, str]:
    """Matroska tags that tie a master to its original and its record."""
    tags = {
        "SOURCE_FILE": recording.name,
        "SOURCE_SHA256": recording.sha256,
        "DEVICE": recording.device_id,
        "START_TIME": recording.start.isoformat(),
    }
    if recording.officer_id:
        tags["OFFICER"] = recording.officer_id
    if session_id:
        tags["SESSION_ID"] = session_id
    return tags


def verify_master(
    source: Path | str,
    master: Path | str,
    *,
    algorithm: str = "sha256",
    progress: Progress | None = None,
    source_digests: dict | list | None = None,
    source_streams: list[StreamFacts] | None = None,
) -> list[StreamCheck]:
    """:func:`verify_lossless`, plus the FFV1 video streams' colour range against the source's.

    With ``source_streams`` (:func:`~media.archive.digest.describe`) and digests of every
    stream, the source is not opened: the master is decoded once, and that is the proof.
    """
    if source_streams is None:
        with av.open(str(source)) as s:
            source_streams = describe(s)
    checks = verify_lossless(
        source, master, algorithm=algorithm, progress=progress, source_digests=source_digests, source_streams=source_streams
    )
    facts = {f.index: f for f in source_streams}
    with av.open(str(master)) as m:
        for c in checks:
            if c.method != "frames":
                continue
            sc, mc = facts[c.source_index], m.streams[c.master_index].codec_context
            fmt = sc.pix_fmt or ""
            want = 2 if (fmt.startswith("yuvj") or sc.color_range == 2) else sc.color_range
            if fmt in RGB:
                want = mc.color_range  # RGB has one range; nothing to carry
            if mc.color_range != want:
                raise VerificationError(
                    f"master {Path(master).name}: video stream {c.master_index} records colour range "
                    f"{mc.color_range}, source {Path(source).name} has {want}"
                )
    return checks


def _failure(what: str, source: Path | str, exc: BaseException) -> BaseException:
    """The exception to raise for a consumer that failed: FFmpeg errors become an ArchiveError."""
    if isinstance(exc, av.FFmpegError) and not isinstance(exc, ArchiveError):
        err = ArchiveError(f"{what} of {Path(source).name} failed: {exc}")
        err.__cause__ = exc
        return err
    return exc


class MasterWriter(Tee):
    """The master as a consumer of a shared pass: the policy's choice, and the source's digests.

    On seeing the file it decides the action (``settings.policy`` unless ``action`` is given)
    and becomes a :class:`~media.archive.digest.SourceDigests` (fed first, so it hashes each
    frame before anything else touches it) plus a :class:`~media.archive.remux.RemuxWriter` or
    :class:`~media.archive.ffv1.FFV1Writer` writing ``dest``.
    """

    name = "master"

    def __init__(self, dest: Path | str, *, action: Action | str | None = None, settings: ArchiveSettings | None = None,
                 tags: Mapping[str, str] | None = None, progress: Progress | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.dest, self.settings, self.tags = Path(dest), settings or ArchiveSettings(), dict(tags or {})
        self.action = Action(action) if action is not None else None
        self.progress, self.threads = progress, threads
        self.writer = self.hasher = None

    def start(self, source: Source) -> Wants:
        c = source.container
        if self.action is None:
            v = c.streams.video[0] if c.streams.video else None
            self.action = self.settings.policy.decide(codec_name(v.codec_context) if v else None, c.format.name)
        if self.action is Action.FFV1:
            self.writer = FFV1Writer(self.dest, options=self.settings.ffv1, tags=self.tags, progress=self.progress, threads=self.threads)
            methods = ffv1_digest_methods
        else:
            self.writer = RemuxWriter(self.dest, tags=self.tags, progress=self.progress)
            methods = remux_digest_methods
        self.hasher = SourceDigests(methods, algorithm=self.settings.hash)
        self.parts = [self.hasher, self.writer]
        return super().start(source)


def remux_digest_methods(container) -> dict[int, str]:
    """A remux master keeps every video, audio and subtitle stream's packets: compared by packets."""
    return {s.index: "packets" for s in container.streams if s.type in KEEP}


def access_digest_methods(container) -> dict[int, str]:
    """A remuxed access copy keeps the first video and audio stream's packets: compared by packets."""
    return {s.index: "packets" for s in first_streams(container)}


class AccessWriter(Tee):
    """The access copy as a consumer of a shared pass: a stream copy when the source meets the
    access profile (:func:`~media.archive.estimate.access_remux_refusal`), else an encode."""

    name = "access"

    def __init__(self, dest: Path | str, *, settings: ArchiveSettings | None = None, progress: Progress | None = None,
                 method: str | None = None) -> None:
        super().__init__()
        self.dest, self.settings, self.progress = Path(dest), settings or ArchiveSettings(), progress
        self.method, self.reason = method, None
        self.writer = self.hasher = None
        self.info: dict = {}

    def start(self, source: Source) -> Wants:
        c = source.container
        self.source_duration = source.duration
        self.reason = source_access_refusal(c, self.settings.access)
        if self.method is None:
            self.method = "remux" if self.reason is None else "encode"
        if self.method == "remux":
            if self.reason is not None:
                raise ArchiveError(f"{source.path.name} cannot be remuxed as the access copy: {self.reason}")
            self.writer = RemuxWriter(self.dest, format="mp4", progress=self.progress, stage="access")
            self.hasher = SourceDigests(access_digest_methods, algorithm=self.settings.hash)
            self.parts = [self.hasher, self.writer]
            v = first_streams(c)[0].codec_context
            a = next((s for s in first_streams(c) if s.type == "audio"), None)
            self.info = {"width": v.width, "height": v.height, "video": "h264", "audio": "aac" if a is not None else None}
        else:
            self.writer = AccessEncoder(self.dest, options=self.settings.access, progress=self.progress)
            self.parts = [self.writer]
        wants = super().start(source)
        if self.method == "encode":
            self.info = self.writer.info
        return wants


def source_access_refusal(container, options: AccessOptions | None = None) -> str | None:
    """:func:`~media.archive.estimate.access_remux_refusal` for an open file."""
    firsts = first_streams(container)
    v = next((s.codec_context for s in firsts if s.type == "video"), None)
    a = next((s.codec_context for s in firsts if s.type == "audio"), None)
    if v is None:
        return "no video stream"
    return access_remux_refusal(
        codec_name(v), v.pix_fmt, (v.pix_fmt or "").startswith("yuvj") or v.color_range == 2, v.width, v.height,
        codec_name(a) if a is not None else None, container.format.name, options,
    )


class MasterJob:
    """One master made in a shared pass, all or nothing: ``with`` it, run its :attr:`consumer`
    in a :class:`~media.fanout.FanOut`, then :meth:`finish` (still inside the ``with``)."""

    def __init__(self, source: Path | str, dest: Path | str, *, action: Action | str | None = None,
                 settings: ArchiveSettings | None = None, tags: Mapping[str, str] | None = None,
                 progress: Progress | None = None, overwrite: bool = False, threads: int | None = None) -> None:
        self.source, self.dest, self.settings = source, Path(dest), settings or ArchiveSettings()
        self.tags = {k: str(v) for k, v in (tags or {}).items()}
        self.action, self.progress, self.overwrite, self.threads = action, progress, overwrite, threads
        self.t0 = time.perf_counter()

    def __enter__(self) -> "MasterJob":
        self._out = atomic_output(self.dest, overwrite=self.overwrite)
        self.tmp = self._out.__enter__()
        self.consumer = MasterWriter(self.tmp, action=self.action, settings=self.settings, tags=self.tags,
                                     progress=self.progress, threads=self.threads)
        return self

    def __exit__(self, *exc) -> bool:
        return bool(self._out.__exit__(*exc))

    def finish(self, outcome: PassResult) -> ArchiveResult:
        """Prove the master from the pass's digests; raise if it failed or does not verify."""
        w = self.consumer
        act = w.action.value if w.action is not None else "master"
        if w in outcome.errors:
            raise _failure(act, self.source, outcome.errors[w])
        checks = verify_master(self.source, self.tmp, algorithm=self.settings.hash, progress=self.progress,
                               source_digests=w.hasher.digests, source_streams=w.hasher.streams)
        return ArchiveResult(
            role="master", action=w.action.value, source=str(self.source), path=str(self.dest), size=self.tmp.stat().st_size,
            sha256=file_sha256(self.tmp), checks=[c.to_dict() for c in checks], streams=w.writer.report["streams"],
            dropped=w.writer.report["dropped"], tags=self.tags, seconds=time.perf_counter() - self.t0,
        )


class AccessJob:
    """One access copy made in a shared pass, all or nothing (used like :class:`MasterJob`)."""

    def __init__(self, source: Path | str, dest: Path | str, *, settings: ArchiveSettings | None = None,
                 progress: Progress | None = None, overwrite: bool = False, method: str | None = None) -> None:
        self.source, self.dest, self.settings = source, Path(dest), settings or ArchiveSettings()
        self.progress, self.overwrite, self.method = progress, overwrite, method
        self.t0 = time.perf_counter()

    def __enter__(self) -> "AccessJob":
        self._out = atomic_output(self.dest, overwrite=self.overwrite)
        self.tmp = self._out.__enter__()
        self.consumer = AccessWriter(self.tmp, settings=self.settings, progress=self.progress, method=self.method)
        return self

    def __exit__(self, *exc) -> bool:
        return bool(self._out.__exit__(*exc))

    def finish(self, outcome: PassResult) -> ArchiveResult:
        """Check the copy: packets equal (remux) or it opens as H.264 and lasts as long (encode)."""
        w = self.consumer
        if w in outcome.errors:
            raise _failure("access copy", self.source, outcome.errors[w])
        name = Path(self.source).name
        with av.open(str(self.tmp)) as a:
            dur = a.duration / 1e6 if a.duration else 0.0
            vcodec = codec_name(a.streams.video[0].codec_context) if a.streams.video else None
        src_d = w.source_duration or None
        if vcodec != "h264" or (src_d and abs(dur - src_d) > 1.0):
            raise ArchiveError(f"access copy of {name} lasts {dur:.2f} s, source {src_d or 0:.2f} s")
        checks: list[dict[str, Any]] = [{"method": "duration", "seconds": dur}]
        if w.method == "remux":
            pairs = [(si, o.index) for si, o in w.writer.mapping.items()]
            proof = verify_lossless(self.source, self.tmp, algorithm=self.settings.hash, progress=self.progress,
                                    source_digests=w.hasher.digests, source_streams=w.hasher.streams, pairs=pairs)
            checks = [c.to_dict() for c in proof] + checks
        return ArchiveResult(
            role="access", action="access", method=w.method, reason=w.reason if w.method == "encode" else None,
            source=str(self.source), path=str(self.dest), size=self.tmp.stat().st_size, sha256=file_sha256(self.tmp),
            streams=[{**w.info, "method": w.method}], checks=checks, seconds=time.perf_counter() - self.t0,
        )


def make_master(
    source: Path | str,
    dest: Path | str,
    *,
    action: Action | str | None = None,
    settings: ArchiveSettings | None = None,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> ArchiveResult:
    """Make, verify and keep the archive master of ``source`` at ``dest``.

    Parameters
    ----------
    source : path-like
        The original; only read.
    dest : path-like
        Where the master goes (Matroska). It appears only once verified.
    action : Action or str, optional
        ``"remux"`` or ``"ffv1"``; by default what ``settings.policy`` decides for the source.
    settings : ArchiveSettings, optional
    tags : mapping, optional
        Matroska global tags, e.g. :func:`master_tags`.
    progress : callable, optional
        ``progress(stage, seconds_done, seconds_total)``, stages ``remux``/``transcode`` then
        ``verify``.
    overwrite : bool
        Replace an existing ``dest`` (masters are otherwise written once).

    Returns
    -------
    ArchiveResult

    Raises
    ------
    VerificationError
        The master does not reproduce the source; nothing is left at ``dest``.
    ArchiveError
        The source cannot be archived with this action.
    """
    with MasterJob(source, dest, action=action, settings=settings, tags=tags, progress=progress, overwrite=overwrite) as job:
        outcome = FanOut(source, [job.consumer]).run()
        return job.finish(outcome)


def make_access(
    source: Path | str,
    dest: Path | str,
    *,
    settings: ArchiveSettings | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
    method: str | None = None,
) -> ArchiveResult:
    """Make the access copy of ``source`` at ``dest`` (MP4, index first) in one pass.

    A source that already meets the access profile (H.264 limited-range yuv420p within the size
    bounds, AAC or no audio, in MP4/MOV: :func:`~media.archive.estimate.access_remux_refusal`)
    is stream-copied (``method="remux"``) and proved packet for packet like a remux master;
    any other is encoded (``method="encode"``), which is lossy by design, so its check is that
    it opens, its video is H.264, and it lasts as long as the source (within one second).

    Parameters
    ----------
    method : str, optional
        ``"remux"`` or ``"encode"``; by default the first when the source allows it.

    Raises
    ------
    ArchiveError
        The copy could not be made, or ``method="remux"`` for a source that does not qualify.
    """
    with AccessJob(source, dest, settings=settings, progress=progress, overwrite=overwrite, method=method) as job:
        outcome = FanOut(source, [job.consumer]).run()
        return job.finish(outcome)
