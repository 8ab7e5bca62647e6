"""Findings from a reading of the burned-in display, as :class:`media.model.Event`.

Pure functions of an :class:`~media.text.osd.OsdReading` (and, where the file's identity
matters, its :class:`~media.model.Recording`):

- ``osd_time_jump``: the time on screen moves by more than ``jump_tolerance`` against the
  presentation time (a cut, or a clock reset). The clock's offset (time on screen minus
  presentation time) is followed sample by sample; a new offset counts once ``jump_confirm``
  readings agree on it, and a lone reading that disagrees with both sides is a misread.
- ``osd_clock_offset``: the time on screen at the file's start differs from the start time
  Footage uses (``Recording.start``) by more than ``offset_tolerance``; both are in the detail.
- ``osd_id_mismatch``: the device or officer number on screen differs from the recording's.
- ``osd_unreadable``: a camera known to stamp (``stamping_devices``) with no readable clock on
  at least ``min_readable`` of the samples read.

:func:`osd_gap_seconds` measures the break between two files of a session on the cameras' own
clock, beside the container one.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from collections.abc import Mapping

from media.model import Event, Recording, Session
from media.text.osd import OsdReading, OsdSample
from media.text.parse import same_id
from media.text.settings import OsdSettings

__all__ = [
    "ClockRun", "clock_runs", "time_jumps", "osd_start", "osd_end", "osd_gap_seconds", "session_osd_gaps", "osd_events",
]


@dataclass
class ClockRun:
    """Consecutive readings on one clock: time on screen minus presentation time stays put."""

    samples: list[OsdSample]

    @property
    def offset(self) -> float:
        """Median of (time on screen - presentation time), seconds since the Unix epoch (naive)."""
        return median(_offset(s) for s in self.samples)

    def at(self, t: float) -> datetime:
        """Time on screen this clock shows at presentation time ``t`` (naive)."""
        return datetime(1970, 1, 1) + timedelta(seconds=self.offset + t)


def _offset(s: OsdSample) -> float:
    return (s.stamp - datetime(1970, 1, 1)).total_seconds() - s.t


def clock_runs(samples: list[OsdSample], tolerance: float, confirm: int = 2) -> tuple[list[ClockRun], int]:
    """Split readable clock samples into runs on one clock.

    Parameters
    ----------
    samples : list of OsdSample
        In time order; those without a stamp are skipped.
    tolerance : float
        Largest change of offset within one run (s).
    confirm : int
        Readings that must agree on a new offset before a new run starts.

    Returns
    -------
    runs : list of ClockRun
    misreads : int
        Readings that fitted neither the run before nor a confirmed new one.
    """
    readable = [s for s in samples if s.stamp is not None]
    if not readable:
        return [], 0
    runs = [[readable[0]]]
    candidate: list[OsdSample] = []
    misreads = 0
    for s in readable[1:]:
        if abs(_offset(s) - median(map(_offset, runs[-1]))) <= tolerance:
            runs[-1].append(s)
            misreads += len(candidate)
            candidate = []
            continue
        if candidate and abs(_offset(s) - median(map(_offset, candidate))) <= tolerance:
            candidate.append(s)
        else:
            misreads += len(candidate)
            candidate = [s]
        if len(candidate) >= confirm:
            runs.append(candidate)
            candidate = []
    misreads += len(candidate)
    return [ClockRun(r) for r in runs], misreads


def _settings(settings: OsdSettings | None) -> OsdSettings:
    return settings or OsdSettings()


def time_jumps(reading: OsdReading, settings: OsdSettings | None = None, file: str | None = None) -> list[Event]:
    """``osd_time_jump`` events: one per change of clock inside the file.

    ``start``/``end`` are the presentation times of the last reading before and the first
    after; the detail gives the time on screen at both and the jump in seconds (time on screen
    gained beyond the presentation time; negative when the clock went back).
    """
    s = _settings(settings)
    runs, misreads = clock_runs(reading.samples, s.jump_tolerance, s.jump_confirm)
    events = []
    for before, after in zip(runs, runs[1:]):
        a, b = before.samples[-1], after.samples[0]
        events.append(Event(
            kind="osd_time_jump", file=file, start=round(a.t, 3), end=round(b.t, 3), rule=s.rule("osd_time_jump"),
            detail={"before": a.stamp.isoformat(sep=" "), "after": b.stamp.isoformat(sep=" "),
                    "seconds": round(after.offset - before.offset, 1), "tolerance": s.jump_tolerance,
                    "misreads": misreads},
        ))
    return events


def osd_start(reading: OsdReading | None, settings: OsdSettings | None = None) -> datetime | None:
    """Time on screen at presentation time 0, on the file's first clock, in ``settings.timezone``."""
    s = _settings(settings)
    runs, _ = clock_runs(reading.samples, s.jump_tolerance, s.jump_confirm) if reading else ([], 0)
    return runs[0].at(0.0).replace(tzinfo=ZoneInfo(s.timezone)) if runs else None


def osd_end(reading: OsdReading | None, duration: float, settings: OsdSettings | None = None) -> datetime | None:
    """Time on screen at presentation time ``duration``, on the file's last clock."""
    s = _settings(settings)
    runs, _ = clock_runs(reading.samples, s.jump_tolerance, s.jump_confirm) if reading else ([], 0)
    return runs[-1].at(duration).replace(tzinfo=ZoneInfo(s.timezone)) if runs else None


def osd_gap_seconds(
    before: OsdReading | None, before_duration: float, after: OsdReading | None, settings: OsdSettings | None = None
) -> float | None:
    """Seconds between the end of one file and the start of the next on the cameras' clocks.

    The second measure of a session gap, beside the container times; None when either file
    has no readable clock.
    """
    end, start = osd_end(before, before_duration, settings), osd_start(after, settings)
    return None if end is None or start is None else round((start - end).total_seconds(), 3)


def session_osd_gaps(
    session: Session, readings: Mapping[str, OsdReading | None], settings: OsdSettings | None = None
) -> dict[str, float | None]:
    """The cameras' own measure of each gap of a session, beside the container one.

    Parameters
    ----------
    session : Session
    readings : mapping of path or name -> OsdReading
        The display read in each recording (``QCResult.osd``).

    Returns
    -------
    dict of gap id -> seconds or None
        Seconds between the file before and the file after on their burned-in clocks; None
        where either has no readable clock. A gap row can show it as ``detail["osd_seconds"]``.
    """
    def find(ref: str) -> Recording | None:
        return next((r for r in session.recordings if ref in (r.path, r.name)), None)

    def reading(rec: Recording | None) -> OsdReading | None:
        return None if rec is None else readings.get(rec.path) or readings.get(rec.name)

    out = {}
    for gap in session.gaps:
        before, after = find(gap.before), find(gap.after)
        out[gap.id] = None if before is None else osd_gap_seconds(
            reading(before), before.duration, reading(after), settings
        )
    return out


def _clock_offset(reading: OsdReading, rec: Recording, s: OsdSettings) -> list[Event]:
    shown = osd_start(reading, s)
    if shown is None:
        return []
    seconds = (shown - rec.start).total_seconds()
    if abs(seconds) <= s.offset_tolerance:
        return []
    return [Event(
        kind="osd_clock_offset", file=rec.path, device=rec.device_id, start=0.0, at=rec.start,
        rule=s.rule("osd_clock_offset"),
        detail={"osd_start": shown.isoformat(), "recording_start": rec.start.isoformat(),
                "start_source": rec.start_source.value, "seconds": round(seconds, 1),
                "tolerance": s.offset_tolerance},
    )]


def _id_mismatches(reading: OsdReading, rec: Recording, s: OsdSettings) -> list[Event]:
    events = []
    for name, shown, expected in (("device", reading.device, rec.device_id), ("officer", reading.officer, rec.officer_id)):
        if shown is None or expected is None or same_id(shown, expected):
            continue
        seen = [x for x in reading.ids + reading.samples if getattr(x, name)]
        events.append(Event(
            kind="osd_id_mismatch", file=rec.path, device=rec.device_id, start=round(seen[0].t, 3),
            rule=s.rule("osd_id_mismatch"),
            detail={"field": name, "on_screen": shown, "expected": expected,
                    "readings": sum(1 for x in seen if same_id(getattr(x, name), shown))},
        ))
    return events


def stamps(device: str | None, settings: OsdSettings | None = None) -> bool:
    """Whether ``device`` is a camera known to stamp its pictures (``stamping_devices``)."""
    s = _settings(settings)
    return device is not None and any(fnmatch.fnmatchcase(device, p) for p in s.stamping_devices)


def _unreadable(reading: OsdReading | None, rec: Recording, s: OsdSettings) -> list[Event]:
    if not stamps(rec.device_id, s):
        return []
    if reading is not None and reading.samples and reading.readable >= s.min_readable:
        return []
    return [Event(
        kind="osd_unreadable", file=rec.path, device=rec.device_id, start=0.0, end=round(rec.duration, 3),
        rule=s.rule("osd_unreadable"),
        detail={"found": bool(reading and reading.found), "sampled": reading.sampled if reading else 0,
                "read": len(reading.samples) if reading else 0,
                "readable": round(reading.readable, 3) if reading else 0.0, "min_readable": s.min_readable},
    )]


def osd_events(reading: OsdReading | None, recording: Recording, settings: OsdSettings | None = None) -> list[Event]:
    """Every display finding on one recording, sorted by start.

    Parameters
    ----------
    reading : OsdReading or None
        What :func:`media.text.osd.read_osd` (or the QC pass) read; None when not read.
    recording : Recording
        The file's identity: start time, device and officer numbers.
    settings : OsdSettings, optional

    Returns
    -------
    list of Event
        ``osd_time_jump``, ``osd_clock_offset``, ``osd_id_mismatch``, ``osd_unreadable``.
    """
    s = _settings(settings)
    events = _unreadable(reading, recording, s)
    if reading is not None:
        events += time_jumps(reading, s, recording.path) + _clock_offset(reading, recording, s)
        events += _id_mismatches(reading, recording, s)
    for e in events:
        e.device = recording.device_id
    return sorted(events, key=lambda e: (e.start or 0.0, e.kind))
