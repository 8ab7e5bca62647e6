"""Generated clips with a burned-in display, made once per test session.

Every clip is 10 s of 640x360 at 10 fps, H.264 with B-frames, the display drawn in the Noto CJK
font with Chinese labels. What each shows is planted here; tests compare against these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from media.model import CameraKind, Recording
from media.probe import probe
from media.text.synth import OsdClipSpec, make_osd_clip
from media.timeinfo import TimeSettings, identify

ROOT = Path(__file__).resolve().parents[2]
DEVICE, OFFICER = "DSJ-A12345", "012345"
SECONDS = 10.0
JUMP_AT, JUMP = 5.0, 420.0  # a 7-minute jump in the burned-in clock at 5 s


@dataclass
class Planted:
    """A generated clip and what was planted in it."""

    path: Path
    spec: OsdClipSpec


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


CLIPS = {
    # two clean layouts, Chinese weekday and labels; the container says 01:15Z = 09:15 in Shanghai
    "dashed": OsdClipSpec(seconds=SECONDS, layout="dashed", weekday=True, creation_time=_utc(2026, 11, 3, 1, 15), seed=1),
    "compact": OsdClipSpec(seconds=SECONDS, layout="compact", weekday=False, bottom=True,
                           start=datetime(2026, 11, 3, 9, 20, 0), creation_time=_utc(2026, 11, 3, 1, 20), seed=2),
    # a clean clip across midnight: the date on screen turns over at 5 s
    "midnight": OsdClipSpec(seconds=SECONDS, layout="dashed", weekday=True, start=datetime(2026, 11, 3, 23, 59, 55),
                            creation_time=_utc(2026, 11, 3, 15, 59, 55), seed=6),
    # a 7-minute jump in the stamp (a cut)
    "jump": OsdClipSpec(seconds=SECONDS, layout="slashed", weekday=True, jumps=[(JUMP_AT, JUMP)],
                        start=datetime(2026, 11, 3, 9, 30, 0), creation_time=_utc(2026, 11, 3, 1, 30), seed=3),
    # a camera on UTC: the stamp shows 01:40, the container (and file name) say 09:40 local
    "utc": OsdClipSpec(seconds=SECONDS, layout="dashed", weekday=False, start=datetime(2026, 11, 3, 1, 40, 0),
                       creation_time=_utc(2026, 11, 3, 1, 40), seed=4),
    # the officer on screen is not the one in the file name; starts 50 s after "dashed" ends
    "officer": OsdClipSpec(seconds=SECONDS, layout="dashed", weekday=True, officer="067890",
                           start=datetime(2026, 11, 3, 9, 16, 0), creation_time=_utc(2026, 11, 3, 1, 16), seed=5),
}


def file_name(name: str, spec: OsdClipSpec) -> str:
    """DEVICE_OFFICER_YYYYMMDDhhmmss_NNNN.mp4 with the local start time and the right officer."""
    local = spec.creation_time.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{DEVICE}_{OFFICER}_{local:%Y%m%d%H%M%S}_{list(CLIPS).index(name) + 1:04d}.mp4"


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Planted]:
    folder = tmp_path_factory.mktemp("osd")
    return {name: Planted(make_osd_clip(folder / file_name(name, spec), spec), spec) for name, spec in CLIPS.items()}


def recording_of(path: Path) -> Recording:
    """The file's Recording from its probe and name, as the ingest flow builds it."""
    facts = probe(path)
    who = identify(path, facts.tags, facts.duration, TimeSettings(), path.stat().st_mtime)
    return Recording(
        path=str(path), name=path.name, size=facts.size, sha256=facts.sha256, container=facts.container,
        streams=facts.streams, duration=facts.duration, start=who.start, start_source=who.source,
        device_id=who.device or "unknown", officer_id=who.officer, camera_kind=CameraKind.BODY,
        tags=facts.tags, events=facts.events + who.events,
    )


@pytest.fixture(scope="session")
def readings(clips):
    from media.text.osd import read_osd

    return {name: read_osd(c.path) for name, c in clips.items()}
