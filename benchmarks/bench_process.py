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
from fractions import Fraction
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def make_source(path: Path, width: int, height: int, seconds: int, fps: int = 30) -> Path:
    """H.264 (no B-frames, 1 s GOP, ~4 Mbit/s) + AAC stereo in MP4: a moving gradient with noise."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.int16)
    noise = [rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16) for _ in range(7)]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.bit_rate = 4_000_000
        vs.options = {"preset": "veryfast", "bf": "0"}
        vs.codec_context.gop_size = fps
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        t_audio, chunk = 0, 1024
        for i in range(seconds * fps):
            base = (xx + 3 * i + yy // 2) % 256
            img = np.stack([base, (yy + 2 * i) % 256, 255 - base], axis=-1) + noise[i % 7]
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
            while t_audio < (i + 1) * 48000 // fps:
                t = np.arange(t_audio, t_audio + chunk) / 48000
                x = (0.1 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(chunk)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([x, x]), format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, t_audio, Fraction(1, 48000)
                out.mux(a.encode(af))
                t_audio += chunk
        out.mux(vs.encode(None))
        out.mux(a.encode(None))
    return path


def source(name: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    w, h = SIZES[name]
    path = CACHE / f"process_{name}_{SECONDS}s.mp4"
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        make_source(tmp, w, h, SECONDS)
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
        assert result["ratio_separate"] > 1.0


if __name__ == "__main__":
    for n in SIZES:
        print(measure(n))
