"""Intake: what one inbox file becomes.

:func:`recording_from_file` probes a file into a :class:`media.model.Recording` (hash, streams,
start time, device, officer); the ingest flow and ``footage gaps check`` both use it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from media.model import CameraKind, Recording
from media.probe import Limits, probe
from media.timeinfo import identify


class Status(str, Enum):
    """Where one inbox file stands (a ``str`` enum: it compares equal to its value)."""

    PENDING = "pending"  # still on its way through the steps
    INGESTED = "ingested"  # stored, verified, moved to processed/
    DUPLICATE = "duplicate"  # its content was already stored (or is stored by another file of the run)
    QUARANTINED = "quarantined"  # bad input, moved to quarantine/ with a reason
    FAILED = "failed"  # an infrastructure failure: left in the inbox for the next run
    STORED = "stored"  # stored, not verified yet (between the store and verify steps)


class Outcome(BaseModel):
    """What happened to one inbox file."""

    file: str  # path relative to the inbox
    path: str
    status: Status = Status.PENDING
    reason: str | None = None
    message: str | None = None
    recording: Recording | None = None
    categories: list[str] = Field(default_factory=list)
    stored: dict[str, Any] | None = None
    derivatives: list[dict[str, Any]] = Field(default_factory=list)  # archive master, access copy
    moved_to: str | None = None


def recording_from_file(path: Path, settings, name: str | None = None) -> Recording:
    """Probe one file into a Recording (nothing is stored); see :func:`probe_file`."""
    return probe_file(path, settings, name)[0]


def probe_file(path: Path, settings, name: str | None = None) -> tuple[Recording, list[str]]:
    """Probe one file into a Recording and its retention categories (from a sidecar).

    Parameters
    ----------
    path : Path
        The file on local disk.
    settings : records.settings.Settings
        Limits, time-source order and the device lists come from here.
    name : str, optional
        The recording's ``path`` (default ``str(path)``): the ingest flow uses the path relative
        to the inbox.

    Returns
    -------
    recording : Recording
    categories : list of str
        Retention categories named by the file's sidecar (empty: the default).

    Raises
    ------
    media.probe.MediaError
        The file is not usable media (its ``reason`` says why).
    ValueError
        A broken sidecar.
    """
    ing = settings.ingest
    limits = Limits(ing.max_width, ing.max_height, ing.max_duration_s, settings.segment.discontinuity_s)
    facts = probe(path, limits)
    who = identify(path, facts.tags, facts.duration, settings.time, path.stat().st_mtime)
    device = who.device or ing.default_device
    kind = who.camera_kind or (
        CameraKind.FIXED if device in ing.fixed_devices else CameraKind.BODY if device in ing.body_devices else CameraKind.UNKNOWN
    )
    recording = Recording(
        path=name or str(path), name=path.name, size=facts.size, sha256=facts.sha256, container=facts.container,
        streams=facts.streams, duration=facts.duration, start=who.start, start_source=who.source,
        device_id=device, officer_id=who.officer, camera_kind=kind, sequence=who.sequence,
        origin=str(path.parent), tags=facts.tags, chapters=facts.chapters,
        events=[e.model_copy(update={"device": device}) for e in facts.events + who.events],
    )
    return recording, list(who.categories)
