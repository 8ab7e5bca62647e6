"""Archive masters and access copies under a format policy.

The original file is the evidence and is never touched. Beside it this package writes

* a **master** that stays readable for decades: the source's packets in Matroska (``remux``) or
  its decoded pictures and sound in FFV1 version 3 / Matroska (``ffv1``), chosen per source by
  :class:`FormatPolicy`, and proved lossless before it is kept (:func:`verify_lossless`);
* an **access copy** for viewing: H.264 / AAC in MP4, at most 720p.

Every output is written to a hidden temporary file and renamed only after it was made and
verified, so a failure or an interruption leaves nothing at the destination.

Examples
--------
>>> from media.archive import make_master, make_access
>>> master = make_master("cam1.avi", "out/cam1.master.mkv", tags={"SOURCE_SHA256": "..."})
>>> master.action, master.sha256, [c.method for c in master.checks]   # doctest: +SKIP
(<Action.FFV1: 'ffv1'>, '9f...', ['frames'])
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import av
from pydantic import BaseModel, Field

from ..model import Recording
from ._io import ArchiveError, Progress, VerificationError, atomic_output, codec_name, file_sha256, stale_partials
from .access import access_size, make_access_copy
from .digest import StreamCheck, frame_digest, verify_lossless
from .ffv1 import FFV1_PIX_FMT, RGB, audio_action, ffv1_pix_fmt, transcode_ffv1
from .policy import AccessOptions, Action, ArchiveSettings, FFV1Options, FormatPolicy, FormatRule, Profile
from .remux import remux

__all__ = [
    "AccessOptions", "Action", "ArchiveError", "ArchiveResult", "ArchiveSettings", "FFV1Options",
    "FFV1_PIX_FMT", "FormatPolicy", "FormatRule", "Profile", "Progress", "StreamCheck",
    "VerificationError", "access_size", "audio_action", "decide", "ffv1_pix_fmt", "file_sha256",
    "frame_digest", "make_access", "make_access_copy", "make_master", "master_tags", "remux",
    "source_format", "stale_partials", "transcode_ffv1", "verify_lossless", "verify_master",
]


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
    source_digests: dict | None = None,
) -> list[StreamCheck]:
    """:func:`verify_lossless`, plus the FFV1 video streams' colour range against the source's."""
    checks = verify_lossless(source, master, algorithm=algorithm, progress=progress, source_digests=source_digests)
    with av.open(str(source)) as s, av.open(str(master)) as m:
        for c in checks:
            if c.method != "frames":
                continue
            sc, mc = s.streams[c.source_index].codec_context, m.streams[c.master_index].codec_context
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
    settings = settings or ArchiveSettings()
    act = Action(action) if action is not None else decide(source, settings.policy)
    t0 = time.perf_counter()
    tags = {k: str(v) for k, v in (tags or {}).items()}
    with atomic_output(dest, overwrite=overwrite) as tmp:
        try:
            if act is Action.FFV1:
                report = transcode_ffv1(source, tmp, options=settings.ffv1, tags=tags, progress=progress, digest=settings.hash)
            else:
                report = remux(source, tmp, tags=tags, progress=progress)
        except av.FFmpegError as e:
            raise ArchiveError(f"{act.value} of {Path(source).name} failed: {e}") from e
        checks = verify_master(source, tmp, algorithm=settings.hash, progress=progress, source_digests=report.get("source_digests"))
    return ArchiveResult(
        role="master", action=act.value, source=str(source), path=str(dest), size=Path(dest).stat().st_size,
        sha256=file_sha256(dest), checks=[c.to_dict() for c in checks], streams=report["streams"],
        dropped=report["dropped"], tags=tags, seconds=time.perf_counter() - t0,
    )


def make_access(
    source: Path | str,
    dest: Path | str,
    *,
    settings: ArchiveSettings | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> ArchiveResult:
    """Make the access copy of ``source`` at ``dest`` (MP4), checked to decode end to end.

    An access copy is lossy by design, so its check is that it opens, its streams are H.264 and
    AAC, and it lasts as long as the source (within one second).
    """
    settings = settings or ArchiveSettings()
    t0 = time.perf_counter()
    with atomic_output(dest, overwrite=overwrite) as tmp:
        try:
            info = make_access_copy(source, tmp, options=settings.access, progress=progress)
        except av.FFmpegError as e:
            raise ArchiveError(f"access copy of {Path(source).name} failed: {e}") from e
        with av.open(str(source)) as s, av.open(str(tmp)) as a:
            src_d = s.duration / 1e6 if s.duration else None
            dur = a.duration / 1e6 if a.duration else 0.0
            if codec_name(a.streams.video[0].codec_context) != "h264" or (src_d and abs(dur - src_d) > 1.0):
                raise ArchiveError(f"access copy of {Path(source).name} lasts {dur:.2f} s, source {src_d:.2f} s")
    return ArchiveResult(
        role="access", action="access", source=str(source), path=str(dest), size=Path(dest).stat().st_size,
        sha256=file_sha256(dest), streams=[info], checks=[{"method": "duration", "seconds": dur}],
        seconds=time.perf_counter() - t0,
    )
