"""Deterministic demo footage: two body cameras, a chained session, a 40 s gap, an overlap,
a truncated file and a file that is not video."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from media.synth import make_clip, truncate

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 26, 9, 0, 0, tzinfo=TZ)


def _clip(inbox: Path, device: str, officer: str, start: datetime, seq: int, seconds: float, seed: int) -> Path:
    name = f"{device}_{officer}_{start:%Y%m%d%H%M%S}_{seq:04d}.MP4"
    path = make_clip(
        inbox / name,
        seconds,
        width=320,
        height=240,
        fps=10,
        creation_time=start.astimezone(timezone.utc),
        seed=seed,
    )
    stamp = (start + timedelta(seconds=seconds)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def build_demo_inbox(inbox: Path) -> list[Path]:
    """Write the demo files into ``inbox`` and return their paths (same bytes on every run)."""
    inbox.mkdir(parents=True, exist_ok=True)
    made = []
    # DSJ-A01: three consecutive segments (the camera splits files every 6 s), then a 40 s gap
    t = DAY
    for seq in range(1, 4):
        made.append(_clip(inbox, "DSJ-A01", "1001", t, seq, 6, seed=seq))
        t += timedelta(seconds=6)
    made.append(_clip(inbox, "DSJ-A01", "1001", t + timedelta(seconds=40), 4, 6, seed=4))
    # DSJ-B02: two recordings that overlap by 3 s (a clock anomaly)
    b0 = DAY + timedelta(hours=1)
    made.append(_clip(inbox, "DSJ-B02", "1002", b0, 1, 8, seed=11))
    made.append(_clip(inbox, "DSJ-B02", "1002", b0 + timedelta(seconds=5), 2, 6, seed=12))
    sidecar = made[-1].with_name(made[-1].name + ".json")
    sidecar.write_text(json.dumps({"camera_kind": "body", "case_id": "DEMO-2026-001", "categories": ["routine"]}))
    # a recording cut short by a flat battery: its MP4 index never got written
    cut = truncate(_clip(inbox, "DSJ-A01", "1001", DAY + timedelta(hours=2), 5, 6, seed=5), 0.5)
    died = (DAY + timedelta(hours=2, seconds=3)).timestamp()  # when the battery went flat
    os.utime(cut, (died, died))
    made.append(cut)
    # somebody dropped a note into the inbox
    note = inbox / "notes.txt"
    note.write_text("现场笔记 / field notes: this is not a video\n", encoding="utf-8")
    made.append(note)
    return made
