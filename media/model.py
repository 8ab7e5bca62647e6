"""The domain model: recordings, sessions, gaps and events.

Every time here is timezone-aware. Offsets inside a file (``Event.start``/``Event.end``) are
seconds from the start of that file; absolute instants are ``datetime`` objects.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class CameraKind(str, Enum):
    BODY = "body"
    FIXED = "fixed"
    UNKNOWN = "unknown"


class TimeSource(str, Enum):
    """Where a recording's start time was read, strongest first."""

    SIDECAR = "sidecar"
    CONTAINER = "container"
    FILENAME = "filename"
    MTIME = "mtime"

    @property
    def weak(self) -> bool:
        return self is TimeSource.MTIME


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value


class StreamInfo(BaseModel):
    """Facts about one stream, read from packets without decoding."""

    index: int
    kind: str  # video | audio | data | subtitle | attachment
    codec: str | None = None
    profile: str | None = None
    time_base: str | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    color_range: str | None = None  # "tv" (limited) | "pc" (full) | None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    packets: int = 0
    keyframes: int = 0
    bytes: int = 0
    first_pts: float | None = None  # seconds
    last_end: float | None = None  # seconds: last pts + its duration
    duration: float | None = None  # seconds covered by packets
    max_packet_interval: float | None = None  # seconds, largest pts step (video)


class Event(BaseModel):
    """Something found in or about a recording or a session.

    ``kind`` is one of the documented event kinds (``gap``, ``overlap``, ``discontinuity``,
    ``clock_disagreement``, ``weak_start_time`` ...). ``start``/``end`` are seconds from the start
    of ``file`` where they concern a place in a file; ``at``/``until`` are absolute instants.
    """

    model_config = ConfigDict(extra="allow")

    kind: str
    file: str | None = None
    device: str | None = None
    start: float | None = None
    end: float | None = None
    at: datetime | None = None
    until: datetime | None = None
    rule: str | None = None  # article of the recording rules concerned, e.g. 第二十一条
    detail: dict[str, Any] = Field(default_factory=dict)

    _check_at = field_validator("at", "until")(lambda cls, v: _aware(v))


class Recording(BaseModel):
    """One media file and everything known about it without decoding."""

    path: str
    name: str
    size: int
    sha256: str
    container: str
    streams: list[StreamInfo] = Field(default_factory=list)
    duration: float  # seconds
    start: datetime
    start_source: TimeSource
    device_id: str
    officer_id: str | None = None
    camera_kind: CameraKind = CameraKind.UNKNOWN
    sequence: int | None = None
    origin: str | None = None  # where it came from: inbox path, upload, device dock
    tags: dict[str, str] = Field(default_factory=dict)
    chapters: list[dict[str, Any]] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)

    _check_start = field_validator("start")(lambda cls, v: _aware(v))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)


class Gap(BaseModel):
    """A break inside a session, longer than the chaining tolerance."""

    device: str
    session: str
    start: datetime
    end: datetime
    before: str  # file that ended
    after: str  # file that resumed

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def id(self) -> str:
        """Stable gap id inside its session: the resume time, compact."""
        return "gap-" + self.end.strftime("%Y%m%dT%H%M%S")


class Session(BaseModel):
    """The ordered recordings of one device that form one continuous activity."""

    id: str
    device: str
    recordings: list[Recording]
    gaps: list[Gap] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.recordings[0].start

    @property
    def end(self) -> datetime:
        return max(r.end for r in self.recordings)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device": self.device,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "files": [r.name for r in self.recordings],
            "recordings": len(self.recordings),
            "gaps": len(self.gaps),
        }
