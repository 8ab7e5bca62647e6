"""Group recordings into sessions per device, and find gaps and clock anomalies between them.

A session is the ordered recordings of one device that form one continuous activity. A new
session starts only after a break longer than ``session_break_s``; inside a session a break
longer than ``chain_tolerance_s`` is a :class:`~media.model.Gap`, and a file that starts before
the previous one ended (beyond the same tolerance) is an ``overlap`` event.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta, timezone
from typing import Iterable

from pydantic import BaseModel

from ..model import Event, Gap, Recording, Session

__all__ = ["SegmentSettings", "segment", "session_id"]


class SegmentSettings(BaseModel):
    """Thresholds of segmentation, configurable under ``[segment]``."""

    session_break_s: float = 30 * 60.0
    chain_tolerance_s: float = 2.0
    discontinuity_s: float = 1.0  # in-file timestamp jump beyond one frame time


def session_id(rec: Recording) -> str:
    return f"{rec.device_id}-{rec.start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def segment(recordings: Iterable[Recording], cfg: SegmentSettings | None = None) -> list[Session]:
    """Sessions of ``recordings``, ordered by device then start time."""
    cfg = cfg or SegmentSettings()
    by_device: dict[str, list[Recording]] = defaultdict(list)
    for rec in recordings:
        by_device[rec.device_id].append(rec)
    tolerance = timedelta(seconds=cfg.chain_tolerance_s)
    session_break = timedelta(seconds=cfg.session_break_s)
    sessions: list[Session] = []
    for device in sorted(by_device):
        recs = sorted(by_device[device], key=lambda r: (r.start, r.sequence or 0, r.name))
        current: Session | None = None
        reach = None  # latest end seen so far in the current session
        for rec in recs:
            if current is None or rec.start - reach > session_break:
                current = Session(id=session_id(rec), device=device, recordings=[rec])
                sessions.append(current)
                reach = rec.end
                continue
            prev = current.recordings[-1]
            if rec.start - reach > tolerance:
                current.gaps.append(
                    Gap(device=device, session=current.id, start=reach, end=rec.start, before=prev.name, after=rec.name)
                )
            elif reach - rec.start > tolerance:
                current.events.append(
                    Event(
                        kind="overlap",
                        file=rec.name,
                        device=device,
                        start=0.0,
                        end=round((min(reach, rec.end) - rec.start).total_seconds(), 3),
                        at=rec.start,
                        until=min(reach, rec.end),
                        detail={
                            "previous": prev.name,
                            "seconds": round((reach - rec.start).total_seconds(), 3),
                            "message": "starts before the previous recording ended: clock anomaly or duplicate device id",
                        },
                    )
                )
            current.recordings.append(rec)
            reach = max(reach, rec.end)
    return sessions
