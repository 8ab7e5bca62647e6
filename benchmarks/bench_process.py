"""One decode pass per file: ``process_recording`` against the separate passes it replaces.

Sources are camera-like: H.264 without B-frames, 1 s GOP, about 4 Mbit/s, with AAC stereo, in
MP4 with the index at the end; 60 s of 1280x720 at 30 fps (meets the access profile: the access
copy becomes a stream copy) and 60 s of 1920x1080 (the access copy must be scaled and encoded).

Three ways to do the same work on each, timed in the same run:

* ``one pass``: :func:`records.derivatives.process_recording` (gap checks, master, access copy
  from one decode);
* ``separate``: :func:`media.gaps.qc.analyse` then :func:`records.derivatives.archive_recording`
  (two passes: the checks, then master and access copy together);
* ``as before``: ``analyse``, ``make_master``, ``make_access(method="encode")``: three passes and
  an encoded access copy whatever the source, as the ingest flow did before issue 12.

Ratios (time of the others / time of one pass) go to ``extra_info``.

    .venv/bin/python -m pytest benchmarks/bench_process.py --benchmark-only -s
    FOOTAGE_BENCH_SMOKE=1 .venv/bin/python -m pytest benchmarks/bench_process.py --benchmark-disable -q
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import make_source  # noqa: E402
from media.archive import ArchiveSettings, make_access, make_master, master_tags  # noqa: E402
from media.gaps.qc import analyse  # noqa: E402
from media.gaps.settings import GapSettings  # noqa: E402
from media.model import Recording, TimeSource  # noqa: E402
from media.probe import probe  # noqa: E402
from records.derivatives import archive_recording, process_recording  # noqa: E402

SMOKE = os.environ.get("FOOTAGE_BENCH_SMOKE") == "1"
SECONDS = 2 if SMOKE else int(os.environ.get("FOOTAGE_BENCH_SECONDS", 60))
CACHE = Path(__file__).resolve().parent / ".cache"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def source(name: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    w, h = SIZES[name]
    path = CACHE / f"process_{name}_{SECONDS}s.mp4"
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        make_source(tmp, SECONDS, width=w, height=h, bit_rate=4_000_000)
        tmp.rename(path)
    return path


def recording_of(path: Path) -> Recording:
    p = probe(path)
    return Recording(
        path=str(path), name=path.name, size=p.size, sha256=p.sha256, container=p.container, streams=p.streams,
        duration=p.duration, start=datetime(2026, 11, 28, tzinfo=timezone.utc), start_source=TimeSource.FILENAME,
        device_id="CAM-1",
    )


def one_pass(src: Path, rec: Recording, work: Path) -> None:
    done = process_recording(rec, src, work, gaps=GapSettings(), archive=ArchiveSettings())
    assert done.qc is not None and done.archive is not None, (done.qc_error, done.archive_error)


def separate(src: Path, rec: Recording, work: Path) -> None:
    analyse(src, GapSettings(), recording=rec)
    archive_recording(rec, src, work, settings=ArchiveSettings())


def as_before(src: Path, rec: Recording, work: Path) -> None:
    analyse(src, GapSettings(), recording=rec)
    make_master(src, work / "m.mkv", tags=master_tags(rec), overwrite=True)
    make_access(src, work / "a.mp4", method="encode", overwrite=True)


WAYS = {"one pass": one_pass, "separate": separate, "as before": as_before}


def measure(name: str, rounds: int = 1) -> dict:
    """Seconds of each way on the ``name`` source, interleaved round by round (best of ``rounds``)."""
    src = source(name)
    rec = recording_of(src)
    times: dict[str, list[float]] = {k: [] for k in WAYS}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(rounds):
            for way, fn in WAYS.items():
                work = Path(d) / way.replace(" ", "_")
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                t = time.perf_counter()
                fn(src, rec, work)
                times[way].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    return {
        "source": name, "seconds_of_media": SECONDS, "seconds": best,
        "ratio_separate": best["separate"] / best["one pass"], "ratio_as_before": best["as before"] / best["one pass"],
        "x_real_time_one_pass": SECONDS / best["one pass"],
    }


@pytest.mark.parametrize("name", list(SIZES))
def test_one_pass_vs_separate_passes(benchmark, name):
    result: dict = {}

    def run():
        result.update(measure(name))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(
        f"\n{name} {SECONDS}s: one pass {result['seconds']['one pass']:.1f} s ({result['x_real_time_one_pass']:.1f}x real time); "
        f"analyse + archive_recording {result['seconds']['separate']:.1f} s (ratio {result['ratio_separate']:.2f}); "
        f"three passes with an encoded access copy {result['seconds']['as before']:.1f} s (ratio {result['ratio_as_before']:.2f})"
    )
    if not SMOKE:
        assert result["ratio_as_before"] > 1.0  # one pass and a stream copy beat three passes and an encode


if __name__ == "__main__":
    for n in SIZES:
        print(measure(n))
