"""Where a recording's start time, device and officer come from.

Sources, by default strongest first: a sidecar JSON next to the file, the container's
``creation_time`` tag, the file name (configurable regular expressions), the file's mtime (weak:
it marks when writing ended, so the start is mtime minus the duration). The order is
configurable per device, because many cameras write local wall time tagged as UTC. Times without
a zone are read in the configured zone (default Asia/Shanghai). Disagreement between the name and
the container tag beyond a tolerance is reported as an event.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from .model import CameraKind, Event, TimeSource

Source = Literal["sidecar", "container", "filename", "mtime"]

DEFAULT_FILENAME_PATTERNS = [
    # DEVICEID_OFFICERID_YYYYMMDDhhmmss_NNNN.MP4 (common body-camera naming)
    r"^(?P<device>[A-Za-z0-9-]+)_(?P<officer>[A-Za-z0-9-]+)_(?P<ts>\d{14})_(?P<seq>\d{1,6})\.\w+$",
    # YYYYMMDD_hhmmss_NNNN.MP4
    r"^(?P<date>\d{8})_(?P<time>\d{6})_(?P<seq>\d{1,6})\.\w+$",
    # DEVICEID_YYYYMMDD_hhmmss.MP4 (fixed cameras, NVR exports)
    r"^(?P<device>[A-Za-z0-9-]+)_(?P<date>\d{8})_(?P<time>\d{6})\.\w+$",
    # any DEVICE_OFFICER_YYYYMMDDhhmmss[_NNNN].MP4 whose names hold spaces or Chinese characters,
    # e.g. 执法记录仪_张三_20261103091500.MP4 (renamed by hand at a docking station)
    r"^(?P<device>[^_]+)_(?P<officer>[^_]+)_(?P<ts>\d{14})(?:_(?P<seq>\d{1,6}))?\.\w+$",
]


class TimeSettings(BaseModel):
    """How start times are read. Every field is configurable under ``[time]``."""

    timezone: str = "Asia/Shanghai"
    priority: list[Source] = Field(default_factory=lambda: ["sidecar", "container", "filename", "mtime"])
    device_priority: dict[str, list[Source]] = Field(default_factory=dict)
    container_local_as_utc: list[str] = Field(
        default_factory=list, description="devices whose creation_time is local wall time tagged as UTC"
    )
    filename_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_FILENAME_PATTERNS))
    disagreement_tolerance_s: float = 120.0


class Identity(BaseModel):
    """What the file's surroundings say about it."""

    start: datetime
    source: TimeSource
    device: str | None = None
    officer: str | None = None
    sequence: int | None = None
    camera_kind: CameraKind | None = None
    categories: list[str] = Field(default_factory=list)
    case_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    events: list[Event] = Field(default_factory=list)


def sidecar_path(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def read_sidecar(path: Path) -> dict[str, Any] | None:
    side = sidecar_path(path)
    if side is None:
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"sidecar {side.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"sidecar {side.name} must hold a JSON object")
    return data


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=tz)


def from_filename(name: str, patterns: list[str], tz: ZoneInfo) -> dict[str, Any] | None:
    for pattern in patterns:
        m = re.match(pattern, name)
        if not m:
            continue
        g = m.groupdict()
        stamp = g.get("ts") or ((g.get("date") or "") + (g.get("time") or ""))
        try:
            start = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=tz)
        except ValueError:
            continue
        return {
            "start": start,
            "device": g.get("device"),
            "officer": g.get("officer"),
            "sequence": int(g["seq"]) if g.get("seq") else None,
        }
    return None


def from_container(tags: dict[str, str], device: str | None, cfg: TimeSettings, tz: ZoneInfo) -> datetime | None:
    raw = tags.get("creation_time") or tags.get("date")
    if not raw:
        return None
    try:
        value = parse_time(raw, tz)
    except ValueError:
        return None
    if value.year < 2000:  # cameras with an unset clock write 1970 or 1904
        return None
    if device is not None and device in cfg.container_local_as_utc:
        value = value.replace(tzinfo=None).replace(tzinfo=tz)
    return value


def identify(path: Path, tags: dict[str, str], duration: float, cfg: TimeSettings, mtime: float) -> Identity:
    """Resolve start time, device and officer of the file at ``path``."""
    tz = ZoneInfo(cfg.timezone)
    side = read_sidecar(path) or {}
    named = from_filename(path.name, cfg.filename_patterns, tz) or {}
    device = side.get("device") or named.get("device") or tags.get("device_id") or tags.get("com.apple.quicktime.model")
    candidates: dict[str, datetime] = {}
    if side.get("start"):
        candidates["sidecar"] = parse_time(str(side["start"]), tz)
    container_time = from_container(tags, device, cfg, tz)
    if container_time is not None:
        candidates["container"] = container_time
    if named.get("start"):
        candidates["filename"] = named["start"]
    candidates["mtime"] = datetime.fromtimestamp(mtime, timezone.utc) - timedelta(seconds=duration)

    order = cfg.device_priority.get(device or "", cfg.priority)
    chosen = next((s for s in order if s in candidates), "mtime")
    events: list[Event] = []
    if chosen == "mtime":
        events.append(
            Event(
                kind="weak_start_time",
                file=path.name,
                device=device,
                detail={"message": "start time taken from the file's modification time minus its duration"},
            )
        )
    if "filename" in candidates and "container" in candidates:
        delta = (candidates["container"] - candidates["filename"]).total_seconds()
        if abs(delta) > cfg.disagreement_tolerance_s:
            events.append(
                Event(
                    kind="clock_disagreement",
                    file=path.name,
                    device=device,
                    detail={
                        "filename": candidates["filename"].isoformat(),
                        "container": candidates["container"].isoformat(),
                        "seconds": round(delta, 1),
                        "used": chosen,
                    },
                )
            )
    kind = side.get("camera_kind")
    return Identity(
        start=candidates[chosen],
        source=TimeSource(chosen),
        device=device,
        officer=side.get("officer") or named.get("officer"),
        sequence=side.get("sequence") or named.get("sequence"),
        camera_kind=CameraKind(kind) if kind in {k.value for k in CameraKind} else None,
        categories=list(side.get("categories") or ([side["category"]] if side.get("category") else [])),
        case_id=side.get("case_id"),
        extra={k: v for k, v in side.items() if k not in {"start", "device", "officer", "sequence", "camera_kind"}},
        events=events,
    )
