"""The format policy: which archive master each source gets, and how each output is encoded.

The original file is always kept bit for bit; the policy only decides what is written *beside*
it. Sources in a modern codec that will stay decodable (H.264, H.265) are stream-copied into
Matroska (``remux``: the same bits, a better-documented container). Risky or obsolete codecs
(MS-MPEG4, Cinepak, MJPEG, MPEG-4 Part 2, anything unknown) are decoded once and kept as FFV1
version 3 in Matroska (``ffv1``), the Library of Congress preferred format (RFC 9043, RFC 9559).
Every recording also gets an H.264 MP4 ``access`` copy for viewing: the source's own packets
(a faststart stream copy) when it already meets the access profile, else an encode.

``flows/config.py`` embeds :class:`ArchiveSettings` as ``Settings.archive``: set fields in
``footage.toml`` (``[archive]``, ``[archive.ffv1]`` ...) or ``FOOTAGE_ARCHIVE__<FIELD>``.
"""

from __future__ import annotations

from enum import Enum
from fnmatch import fnmatchcase

from pydantic import BaseModel, Field


class Action(str, Enum):
    """What a source's archive master is."""

    REMUX = "remux"  # stream copy into Matroska; bit-exact packets
    FFV1 = "ffv1"  # decoded once, FFV1 v3 in Matroska; bit-exact pixels and samples


class Profile(str, Enum):
    """What ``footage archive --profile`` writes: a master action or the access copy."""

    REMUX = "remux"
    FFV1 = "ffv1"
    ACCESS = "access"


class FormatRule(BaseModel):
    """One policy line: sources whose codec (and container) match get ``action``.

    ``codec`` and ``container`` are shell-style patterns (``msmpeg4*``) over FFmpeg names
    (``h264``, ``mpeg4``; ``avi``, ``matroska``, ``mp4``). A container given as FFmpeg reports
    it (``mov,mp4,m4a,3gp,3g2,mj2``) matches if any of its comma-separated names does.
    """

    codec: str = "*"
    container: str = "*"
    action: Action


def _default_rules() -> list[FormatRule]:
    return [
        FormatRule(codec="h264", action=Action.REMUX),
        FormatRule(codec="hevc", action=Action.REMUX),
        FormatRule(codec="msmpeg4*", action=Action.FFV1),
        FormatRule(codec="cinepak", action=Action.FFV1),
        FormatRule(codec="mjpeg", action=Action.FFV1),
        FormatRule(codec="mpeg4", action=Action.FFV1),  # MPEG-4 Part 2 (DivX, Xvid)
    ]


class FormatPolicy(BaseModel):
    """Maps a source's video codec and container to an :class:`Action`; first match wins."""

    rules: list[FormatRule] = Field(default_factory=_default_rules)
    default: Action = Action.FFV1  # unknown codecs are the risky ones
    access_copy: bool = True  # an access copy for every recording

    def decide(self, codec: str | None, container: str | None = None) -> Action:
        """The action for a source.

        Parameters
        ----------
        codec : str or None
            FFmpeg name of the source's video codec; ``None`` (audio-only or unreadable) falls
            to ``default``.
        container : str or None
            FFmpeg name of the source's container, possibly comma-separated.

        Returns
        -------
        Action
        """
        names = [c.strip() for c in (container or "").split(",") if c.strip()] or [""]
        for rule in self.rules:
            if codec is None and rule.codec != "*":
                continue
            if not fnmatchcase((codec or "").lower(), rule.codec.lower()):
                continue
            if any(fnmatchcase(n.lower(), rule.container.lower()) for n in names):
                return rule.action
        return self.default


class FFV1Options(BaseModel):
    """FFV1 encoder settings of the masters. The defaults are the preservation profile."""

    level: int = Field(3, ge=3, le=3)  # version 3: per-slice CRCs, multithreaded slices
    gop: int = Field(1, ge=1, le=1)  # every frame intra: a damaged frame never spreads
    slicecrc: bool = True
    slices: int = Field(4, ge=4)  # FFmpeg rounds to a valid count (4, 6, 9, 12, 16, 24, 30)
    coder: int | None = None  # None: FFmpeg's default (Golomb-Rice for 8 bit); 1 range coder
    context: int = Field(0, ge=0, le=1)  # 1: large context model, smaller and slower
    threads: int = Field(0, ge=0)  # 0: as many as FFmpeg sees fit

    def codec_options(self) -> dict[str, str]:
        """The options as FFmpeg takes them (``-level 3 -g 1 -slicecrc 1 -slices 4``)."""
        opts = {
            "level": str(self.level),
            "g": str(self.gop),
            "slicecrc": "1" if self.slicecrc else "0",
            "slices": str(self.slices),
            "context": str(self.context),
        }
        if self.coder is not None:
            opts["coder"] = str(self.coder)
        return opts


class AccessOptions(BaseModel):
    """The viewing copy: H.264 (libx264) in MP4 with the index first, AAC audio."""

    max_height: int = Field(720, ge=16)
    max_width: int = Field(1280, ge=16)
    crf: int = Field(23, ge=0, le=51)
    preset: str = "veryfast"
    audio_bitrate: int = Field(128_000, ge=16_000)
    # x264 threads. Its frame threads change its motion search, so the count is part of the
    # copy's bits: 0 is a fixed count (media.archive.access.X264_THREADS), not the machine's cores,
    # so the same source gives the same copy on every machine.
    threads: int = Field(0, ge=0)


class ArchiveSettings(BaseModel):
    """Everything the archive step reads from configuration."""

    policy: FormatPolicy = Field(default_factory=FormatPolicy)
    ffv1: FFV1Options = Field(default_factory=FFV1Options)
    access: AccessOptions = Field(default_factory=AccessOptions)
    hash: str = "sha256"  # per-frame digest used by the lossless proof
    master_suffix: str = ".master.mkv"
    access_suffix: str = ".access.mp4"
