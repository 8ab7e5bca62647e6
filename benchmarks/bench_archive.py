"""Archive masters: FFV1 transcode against the ffmpeg CLI, remux speed, and output sizes.

One generated clip, 60 s of 1280x720 at 30 fps (H.264 + AAC, as a camera writes it), is used by
every measurement in the same run:

* FFV1 master (``transcode_ffv1``) against ``ffmpeg -c:v ffv1`` with the same settings
  (level 3, GOP 1, slice CRC, the same slice count and context model, audio stream-copied, the
  same pixel format and range handling). Goal: ratio (ffmpeg time / ours) >= 0.95.
* Remux (``remux``) speed in times real time. Goal >= 100x.
* A size table: source, remux master, FFV1 master, access copy; also for real clips from the
  shared footage where present.

    .venv/bin/pytest benchmarks/bench_archive.py --benchmark-only -s
    .venv/bin/python benchmarks/bench_archive.py [--rounds 3] [--seconds 60] [--memory]

The verification passes (decoding source and master again) are timed apart: the CLI has none.
Smoke mode (``FOOTAGE_BENCH_SMOKE=1``): a 2 s clip, one round, the generated clip only in the size table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.archive import (  # noqa: E402
    ArchiveSettings,
    make_access,
    make_master,
    transcode_ffv1,
    verify_master,
)
from media.archive.ffv1 import FFV1_PIX_FMT  # noqa: E402
from media.archive.remux import remux  # noqa: E402  (media.archive.remux is the submodule)

SMOKE = os.environ.get("FOOTAGE_BENCH_SMOKE", "0") not in ("", "0")
SECONDS = float(os.environ.get("FOOTAGE_BENCH_SECONDS", 2 if SMOKE else 60))  # shorter only for a smoke run
WIDTH, HEIGHT, FPS = 1280, 720, 30
FFMPEG = shutil.which("ffmpeg")
SHARED = Path(os.environ.get("FOOTAGE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "footage" / "video"
REAL = ["sam2__01_dog.mp4", "opencv-doc__cup.mp4", "mmaction2__test.avi", "opencv-doc__tree.avi", "opencv-doc__vtest.avi"]


def make_source(
    path: Path, seconds: float = SECONDS, *, width: int = WIDTH, height: int = HEIGHT, bit_rate: int | None = None
) -> Path:
    """A camera-like H.264 (1 s GOP, no B-frames) + AAC MP4: a moving gradient with sensor noise.

    ``bit_rate``: a target bit rate (bits/s) instead of x264's CRF 23.

    Like ``media.synth.make_clip``, but the noise comes from a pool of precomputed fields so that
    making 60 s of 720p takes seconds, not minutes, on a small machine.
    """
    import av
    import numpy as np
    from fractions import Fraction

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.int16)
    noise = [rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16) for _ in range(7)]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "veryfast", "bf": "0", **({} if bit_rate else {"crf": "23"})}
        if bit_rate:
            vs.bit_rate = bit_rate
        vs.codec_context.gop_size = FPS
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        t_audio, chunk = 0, 1024
        for i in range(int(seconds * FPS)):
            base = (xx + 3 * i + yy // 2) % 256
            img = np.stack([base, (yy + 2 * i) % 256, 255 - base], axis=-1) + noise[i % 7]
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(vs.encode(frame))
            while t_audio < (i + 1) * 48000 // FPS:
                t = np.arange(t_audio, t_audio + chunk) / 48000
                x = (0.1 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(chunk)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([x, x]), format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, t_audio, Fraction(1, 48000)
                out.mux(a.encode(af))
                t_audio += chunk
        out.mux(vs.encode(None))
        out.mux(a.encode(None))
    return path


def ffmpeg_ffv1(src: Path, dst: Path, settings: ArchiveSettings | None = None) -> float:
    """The ffmpeg CLI doing what ``transcode_ffv1`` does; returns seconds."""
    opts = (settings or ArchiveSettings()).ffv1.codec_options()
    import av

    with av.open(str(src)) as c:
        fmt = c.streams.video[0].codec_context.pix_fmt
    args = [FFMPEG, "-nostdin", "-y", "-v", "error", "-i", str(src), "-map", "0:v", "-map", "0:a?", "-c:v", "ffv1"]
    for k, v in opts.items():
        args += [f"-{k}", v]
    if fmt in FFV1_PIX_FMT:  # same range handling: same samples, full range recorded
        args += ["-pix_fmt", FFV1_PIX_FMT[fmt], "-color_range", "pc"]
    args += ["-c:a", "copy", "-f", "matroska", str(dst)]
    t, c = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True)
    CPU.setdefault("cli", []).append(_cpu(resource.RUSAGE_CHILDREN) - c)
    return time.perf_counter() - t


def ours_ffv1(src: Path, dst: Path) -> float:
    """``transcode_ffv1`` as ``make_master`` runs it (source frames hashed on the way)."""
    t, c = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    LAST["report"] = transcode_ffv1(src, dst, options=ArchiveSettings().ffv1)
    CPU.setdefault("ours", []).append(_cpu(resource.RUSAGE_SELF) - c)
    return time.perf_counter() - t


LAST: dict = {}  # the latest transcode report (its source digests serve the verification)

#: CPU seconds (user + system, all threads) of each run: steadier than wall time on a shared box.
CPU: dict[str, list[float]] = {}


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def cpu_line() -> str:
    c, o = statistics.median(CPU["cli"][-3:]), statistics.median(CPU["ours"][-3:])
    return f"CPU time: ffmpeg CLI {c:.1f} s, ours {o:.1f} s; CPU ratio {c / o:.2f}"


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def size_row(name: str, src: Path, work: Path, duration: float | None = None) -> dict:
    """Sizes of the source and of its three outputs (made here, each verified)."""
    import av

    if duration is None:
        with av.open(str(src)) as c:
            duration = c.duration / 1e6
    row = {"file": name, "seconds": duration, "source": src.stat().st_size}
    for key, fn in (
        ("remux", lambda d: make_master(src, d, action="remux", overwrite=True)),
        ("ffv1", lambda d: make_master(src, d, action="ffv1", overwrite=True)),
        ("access", lambda d: make_access(src, d, overwrite=True)),
    ):
        dest = work / f"{name}.{key}.{'mp4' if key == 'access' else 'mkv'}"
        try:
            t = time.perf_counter()
            row[key] = fn(dest).size
            row[f"{key}_s"] = time.perf_counter() - t
        except Exception as e:  # e.g. a codec Matroska cannot take by stream copy
            row[key] = None
            row[f"{key}_error"] = str(e)[:80]
        dest.unlink(missing_ok=True)
    return row


def print_sizes(rows: list[dict]) -> None:
    def cell(n, s):
        return "-" if n is None else f"{n / 1e6:8.2f} MB {n * 8 / s / 1e6:6.1f} Mb/s"

    print(f"\n{'file':38} {'source':>22} {'remux':>22} {'ffv1':>22} {'access':>22}  ffv1/src  seconds to make+verify remux/ffv1/access")
    for r in rows:
        ratio = f"{r['ffv1'] / r['source']:.1f}x" if r.get("ffv1") else "-"
        times = "/".join(f"{r[k + '_s']:.1f}" if k + "_s" in r else "-" for k in ("remux", "ffv1", "access"))
        print(f"{r['file'][:38]:38} " + " ".join(f"{cell(r.get(k), r['seconds']):>22}" for k in ("source", "remux", "ffv1", "access")) + f"  {ratio:>8}  {times} (media {r['seconds']:.1f} s)")


# -- pytest-benchmark ---------------------------------------------------------------------------

_times: dict[str, list[float]] = {}
ROUNDS = 1 if SMOKE else 2


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench-archive")
    make_source(d / "clip.mp4")
    return d


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg CLI not installed")
def test_ffv1_transcode_vs_ffmpeg_cli(benchmark, work):
    src = work / "clip.mp4"
    ffmpeg_ffv1(src, work / "cli.mkv")  # warm-up: page cache
    for _ in range(ROUNDS):
        _times.setdefault("cli", []).append(ffmpeg_ffv1(src, work / "cli.mkv"))
        _times.setdefault("ours", []).append(ours_ffv1(src, work / "ours.mkv"))
    benchmark.pedantic(lambda: _times["ours"].append(ours_ffv1(src, work / "ours.mkv")), rounds=1, iterations=1)
    _times["cli"].append(ffmpeg_ffv1(src, work / "cli.mkv"))
    cli, ours = statistics.median(_times["cli"]), statistics.median(_times["ours"])
    t_verify = timed(lambda: verify_master(src, work / "ours.mkv", source_digests=LAST["report"]["source_digests"]))
    benchmark.extra_info.update({"ffmpeg_s": cli, "ours_s": ours, "ratio": cli / ours, "goal": 0.95, "verify_s": t_verify})
    benchmark.extra_info["cpu"] = cpu_line()
    print(f"\nFFV1 {SECONDS} s {WIDTH}x{HEIGHT}@{FPS}: ffmpeg CLI {cli:.2f} s, ours {ours:.2f} s; ratio {cli / ours:.2f} "
          f"(goal >= 0.95); verification {t_verify:.2f} s more; sizes ffmpeg {(work / 'cli.mkv').stat().st_size / 1e6:.1f} MB, "
          f"ours {(work / 'ours.mkv').stat().st_size / 1e6:.1f} MB; {cpu_line()}")


def test_remux_speed(benchmark, work):
    src = work / "clip.mp4"
    times = []

    def once():
        times.append(timed(lambda: remux(src, work / "remux.mkv")))

    benchmark.pedantic(once, rounds=3, iterations=1)
    t = statistics.median(times)
    t_verify = timed(verify_master, src, work / "remux.mkv")
    benchmark.extra_info.update({"remux_s": t, "x_real_time": SECONDS / t, "goal": 100, "verify_s": t_verify})
    print(f"\nremux {SECONDS} s clip: {t:.3f} s = {SECONDS / t:.0f}x real time (goal >= 100x); "
          f"packet verification {t_verify:.3f} s = {SECONDS / t_verify:.0f}x")


def test_size_table(benchmark, work):
    rows: list[dict] = []

    def table():
        rows.append(size_row("generated 720p30 H.264 (noise)", work / "clip.mp4", work, SECONDS))
        rows.extend(size_row(n, SHARED / n, work) for n in REAL if (SHARED / n).is_file() and not SMOKE)

    benchmark.pedantic(table, rounds=1, iterations=1)
    print_sizes(rows)


def peak_rss_mib(fn_src: str) -> float:
    """Peak resident memory of a fresh interpreter that runs ``fn_src`` (after imports)."""
    code = (
        "import resource, sys; sys.path.insert(0, %r); import av, numpy; from media.archive import *; "
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; %s; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)" % (str(Path(__file__).resolve().parents[1]), fn_src)
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])


def memory(d: Path) -> None:
    """Peak RSS of make_master (FFV1, verified) on 5 s and on 30 s of the same kind of clip."""
    for secs in (5, 30):
        src = make_source(d / f"mem{secs}.mp4", secs)
        mib = peak_rss_mib(f"make_master({str(src)!r}, {str(d / f'mem{secs}.mkv')!r}, action='ffv1')")
        print(f"memory: FFV1 master of {secs:>2} s 720p30: peak RSS {mib:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=SECONDS)
    ap.add_argument("--no-sizes", action="store_true")
    ap.add_argument("--memory", action="store_true", help="only the peak-memory check (5 s against 30 s)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if a.memory:
            return memory(d)
        src = make_source(d / "clip.mp4", a.seconds)
        ffmpeg_ffv1(src, d / "cli.mkv")
        cli, ours = [], []
        for _ in range(a.rounds):
            cli.append(ffmpeg_ffv1(src, d / "cli.mkv"))
            ours.append(ours_ffv1(src, d / "ours.mkv"))
        c, o = statistics.median(cli), statistics.median(ours)
        print(f"FFV1: ffmpeg CLI {c:.2f} s {[round(x, 1) for x in cli]}, ours {o:.2f} s {[round(x, 1) for x in ours]}; "
              f"ratio {c / o:.3f} (goal >= 0.95); best-of ratio {min(cli) / min(ours):.3f}")
        print(cpu_line())
        t_v = timed(lambda: verify_master(src, d / "ours.mkv", source_digests=LAST["report"]["source_digests"]))
        print(f"verification of our master (decode + hash the master, as make_master does): {t_v:.2f} s")
        r = [timed(lambda: remux(src, d / "remux.mkv")) for _ in range(a.rounds)]
        m = statistics.median(r)
        print(f"remux: {m:.3f} s = {a.seconds / m:.0f}x real time (goal >= 100x); "
              f"verification {timed(verify_master, src, d / 'remux.mkv'):.3f} s")
        if not a.no_sizes:
            rows = [size_row("generated 720p30 H.264 (noise)", src, d, a.seconds)]
            rows += [size_row(n, SHARED / n, d) for n in REAL if (SHARED / n).is_file()]
            print_sizes(rows)


if __name__ == "__main__":
    main()
