"""One-pass QC (``media.gaps.qc.analyse``) against FFmpeg's blackdetect, freezedetect, silencedetect.

One generated clip, 60 s of 1280x720 at 30 fps, H.264 (libx264 veryfast: B-frames, as cameras
write) + stereo AAC, with a covered lens at 10-14 s (black, and still), a frozen picture at
25-29 s and digital silence at 40-44 s, is made once into a cache folder
(``FOOTAGE_BENCH_CACHE``, default the system temp folder) and measured three ways in the same run:

* ours: :func:`media.gaps.qc.analyse` without speech (the filters have none), then with speech;
* the same three filters through PyAV's bundled libavfilter (same FFmpeg libraries as ours),
  decoding with frame threads like ours;
* Debian's ``ffmpeg -i FILE -vf blackdetect,freezedetect -af silencedetect -f null -``.

All three must report the same events within 0.5 s. Ratios are reference time / our time
(required >= 1 against the PyAV filters; goal 2).

    .venv/bin/pytest benchmarks/bench_qc.py --benchmark-only -s
    .venv/bin/python benchmarks/bench_qc.py [--rounds 3]

Smoke mode (``FOOTAGE_BENCH_SMOKE=1``): a 12 s clip with the same three stretches, goal not asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.gaps.qc import analyse  # noqa: E402
from media.gaps.reference import reference_events as pyav_filters  # noqa: E402
from media.gaps.synth import ClipSpec, make_clip  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
KINDS = ("black", "freeze", "silence")
SPEC = ClipSpec(
    duration=60, width=1280, height=720, fps=30, channels=2, preset="veryfast", noise=3,
    black=[(10.0, 14.0)], black_noise=0, freeze=[(25.0, 29.0)], silence=[(40.0, 44.0)], seed=11,
)
TOLERANCE = 0.5
SMOKE = os.environ.get("FOOTAGE_BENCH_SMOKE", "0") not in ("", "0")
if SMOKE:
    SPEC = ClipSpec(duration=12, width=1280, height=720, fps=30, channels=2, preset="veryfast", noise=3,
                    black=[(1.0, 4.0)], black_noise=0, freeze=[(6.0, 9.0)], silence=[(7.0, 10.0)], seed=11)


def clip() -> Path:
    """The benchmark clip, generated once (about 30 s on two cores)."""
    folder = Path(os.environ.get("FOOTAGE_BENCH_CACHE", Path(tempfile.gettempdir()) / "footage-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"qc-{SPEC.duration:g}s-720p30-v1.mp4"
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        make_clip(tmp, SPEC)
        tmp.rename(path)
    return path


def ours(path: Path, speech: bool = False) -> dict[str, list[tuple[float, float]]]:
    result = analyse(path, speech=speech)
    return {k: [(e.start, e.end) for e in result.of_kind(k)] for k in KINDS}


def ffmpeg_cli(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Debian's ffmpeg with the same three filters; events parsed from its log."""
    log = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-vf", "blackdetect,freezedetect",
         "-af", "silencedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr
    found: dict[str, list] = {k: [] for k in KINDS}
    for m in re.finditer(r"black_start:([\d.]+) black_end:([\d.]+)", log):
        found["black"].append((float(m[1]), float(m[2])))
    starts = [float(x) for x in re.findall(r"freeze_start: ([\d.]+)", log)]
    ends = [float(x) for x in re.findall(r"freeze_end: ([\d.]+)", log)]
    found["freeze"] = list(zip(starts, ends))
    starts = [float(x) for x in re.findall(r"silence_start: ([-\d.]+)", log)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", log)]
    found["silence"] = list(zip(starts, ends))
    return found


def same_events(a: dict, b: dict) -> bool:
    return all(
        len(a[k]) == len(b[k])
        and all(abs(x[0] - y[0]) <= TOLERANCE and abs(x[1] - y[1]) <= TOLERANCE for x, y in zip(a[k], b[k]))
        for k in KINDS
    )


def timed(fn, *args) -> tuple[float, dict]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def measure(rounds: int = 3) -> dict:
    """Median seconds of each way over ``rounds`` interleaved rounds, and their events."""
    path = clip()
    ways = {"ours": ours, "ours+speech": lambda p: ours(p, speech=True), "pyav_filters": pyav_filters}
    if FFMPEG:
        ways["ffmpeg_cli"] = ffmpeg_cli
    times: dict[str, list[float]] = {k: [] for k in ways}
    events: dict[str, dict] = {}
    for _ in range(rounds):
        for name, fn in ways.items():  # interleaved: load from other users hits every way alike
            t, events[name] = timed(fn, path)
            times[name].append(t)
    median = {k: statistics.median(v) for k, v in times.items()}
    return {"seconds": median, "events": events, "ratios": {k: median[k] / median["ours"] for k in median}}


def report(m: dict) -> str:
    s, r = m["seconds"], m["ratios"]
    lines = [f"QC of {SPEC.duration:g} s {SPEC.width}x{SPEC.height}@{SPEC.fps} H.264+AAC:"]
    for name in s:
        lines.append(f"  {name:13} {s[name]:6.2f} s   reference/ours {r[name]:.2f}")
    lines.append(f"  events ours: {m['events']['ours']}")
    return "\n".join(lines)


# -- pytest-benchmark ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> Path:
    return clip()


def test_same_events_as_the_filters(source):
    mine = ours(source)
    assert same_events(mine, pyav_filters(source)), (mine, pyav_filters(source))
    if FFMPEG:
        assert same_events(mine, ffmpeg_cli(source))
    for kind, intervals in (("black", SPEC.black), ("freeze", SPEC.freeze), ("silence", SPEC.silence)):
        for a, b in intervals:
            assert any(abs(x - a) <= TOLERANCE and abs(y - b) <= TOLERANCE for x, y in mine[kind]), (kind, mine)


def test_qc_vs_filters(benchmark, source):
    m = measure(rounds=1)
    benchmark.pedantic(lambda: ours(source), rounds=1, iterations=1)
    benchmark.extra_info.update({"seconds": m["seconds"], "ratios": m["ratios"], "goal": 2.0})
    print("\n" + report(m))
    assert SMOKE or m["ratios"]["pyav_filters"] >= 1.0, report(m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    m = measure(args.rounds)
    print(report(m))
    for name, found in m["events"].items():
        print(f"  {name:13} same events as ours: {same_events(m['events']['ours'], found)}")


if __name__ == "__main__":
    main()
