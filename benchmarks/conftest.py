"""Benchmark inputs, generated once into benchmarks/.cache (deterministic, so reusable).

In smoke mode (``FOOTAGE_BENCH_SMOKE=1``, see smoke.py) the 720p clip lasts 5 s instead of 60 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
CACHE = ROOT / "benchmarks" / ".cache"


def clip_720p30(seconds: int = 60) -> Path:
    """A ``seconds`` long 1280x720 30 fps H.264 + AAC camera-style MP4 (index at the end)."""
    from media.synth import make_clip

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"cam_720p30_{seconds}s.mp4"
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        make_clip(tmp, seconds, width=1280, height=720, fps=30, sample_rate=48000, seed=720, gop=60)
        tmp.rename(path)
    return path


@pytest.fixture(scope="session")
def clip_720p():
    from smoke import SMOKE

    return clip_720p30(5 if SMOKE else 60)
