"""Shared pieces of the fault-injection tests (tests/reliability, tests/storage/test_s3_*)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from media.synth import make_clip

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_inbox(inbox: Path) -> dict[str, str]:
    """Three short clips of one camera and a file that is not media; name -> SHA-256."""
    inbox.mkdir(parents=True)
    for i in range(3):
        start = T0 + timedelta(seconds=3 * i)
        make_clip(inbox / f"CAM-1_7001_{start:%Y%m%d%H%M%S}_{i + 1:04d}.MP4", 2, width=160, height=120, fps=10,
                  creation_time=start, seed=i)
    (inbox / "note.txt").write_text("not a video\n")
    return {p.name: sha(p) for p in inbox.iterdir()}
