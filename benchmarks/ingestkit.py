"""What the ingest benchmarks share: body-camera clips made with Debian's ffmpeg, the two
contenders (``footage ingest`` as a user runs it, and ``ffmpeg_pipeline.sh``), and the findings
of each, compared.

Clips
-----
``clips(size, n, seconds)``: ``n`` MP4 files of ``seconds`` each, 30 fps H.264 (libx264, no
B-frames as body cameras write, 1 s GOP, ~4 Mbit/s) + mono AAC 48 kHz, named as body cameras name
them (``DSJ-A01_1001_20261126090000_0001.MP4``; two cameras, each a chain of consecutive
segments). The picture is lavfi's ``testsrc2`` (moving) with light sensor noise, tinted
differently per clip; the sound a sine tone, a different pitch per clip. Each clip has, planted at
places that differ from clip to clip (see :func:`plan`):

* a covered lens: a black stretch (also a frozen picture);
* a frozen picture (``freezeframes``: the same frame repeated);
* a silent stretch (the tone at volume 0).

So the SHA-256 of every clip differs, and both contenders have findings to report. Made once
into ``benchmarks/.cache/ingest-<W>x<H>-<S>s-v1/`` (clip ``i`` depends only on ``i``, the size and
the length, so a run with fewer clips reuses the first ones).

Contenders
----------
* :func:`run_footage`: ``.venv/bin/footage ingest --json`` in a subprocess, on a fresh
  ``FOOTAGE_HOME`` (local storage backend) whose inbox holds a fresh copy of the clips, with no
  ``FOOTAGE_*`` or ``PREFECT_*`` variable of the caller (no ``PREFECT_API_URL``: Prefect's
  temporary server is part of the measured time) unless given in ``env``; ``PREFECT_HOME`` is
  ``benchmarks/.cache/prefect-home`` so that no profile of the user's steers it.
* :func:`run_ffmpeg`: ``benchmarks/ffmpeg_pipeline.sh INBOX STORE 2`` on another fresh copy.

Findings (black, freeze, silence) of ``footage ingest`` are read from each stored record's
manifest (``manifests/<sha256>.json``, field ``qc_events``, docs/cli.md) through the storage
interface; those of ffmpeg from its log. :func:`compare` matches them with a 0.5 s tolerance.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
FOOTAGE = Path(sys.executable).parent / "footage"
PIPELINE = Path(__file__).with_name("ffmpeg_pipeline.sh")
FFMPEG = shutil.which("ffmpeg")
PREFECT_HOME = CACHE / "prefect-home"
FPS = 30
BITRATE = "4M"
KINDS = ("black", "freeze", "silence")
TOLERANCE = 0.5  # seconds, on each end of an interval
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
MIN_SECONDS = 8.0  # the three planted stretches need this much room
CAMERAS = [("DSJ-A01", "1001"), ("DSJ-B02", "1002")]
DAY = datetime(2026, 11, 26, 9, 0, 0)
Interval = tuple[float, float]


@dataclass(frozen=True)
class Plan:
    """What clip ``index`` holds: its name, tint, tone and planted stretches (seconds)."""

    index: int
    name: str
    hue: int
    tone_hz: int
    black: Interval
    freeze: Interval
    silence: Interval


def plan(index: int, seconds: float) -> Plan:
    """The clip ``index`` of a set of ``seconds``-long clips; stretches move with the index."""
    if seconds < MIN_SECONDS:
        raise ValueError(f"clips of {seconds} s are too short: the planted stretches need >= {MIN_SECONDS} s")
    length = max(2.5, min(4.0, 0.07 * seconds))  # >= 2 s: the detectors' minimum duration
    shift = 0.03 * seconds * (index % 3)

    def at(fraction: float, extra: float = 0.0) -> Interval:
        start = round((fraction * seconds + shift + extra) * FPS) / FPS  # on a frame boundary
        return (start, round((start + length) * FPS) / FPS)

    device, officer = CAMERAS[index % len(CAMERAS)]
    seq = index // len(CAMERAS)
    start = DAY + timedelta(seconds=seq * seconds)
    name = f"{device}_{officer}_{start:%Y%m%d%H%M%S}_{seq + 1:04d}.MP4"
    return Plan(index, name, hue=(index * 47) % 360, tone_hz=330 + 55 * index,
                black=at(0.10), freeze=at(0.55), silence=at(0.30, 0.02 * seconds * (index % 2)))


def make_clip(path: Path, p: Plan, width: int, height: int, seconds: float) -> Path:
    """Write clip ``p`` with Debian's ffmpeg (through a temporary name: never half a clip)."""
    first, last = round(p.freeze[0] * FPS), round(p.freeze[1] * FPS) - 1
    video = (
        f"[0:v]hue=h={p.hue},noise=alls=1:allf=t,split[x][y];"
        f"[x][y]freezeframes=first={first}:last={last}:replace={first},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,{p.black[0]},{p.black[1]})'[v]"
    )
    audio = f"[1:a]volume=volume=0:enable='between(t,{p.silence[0]},{p.silence[1]})'[a]"
    tmp = path.with_name(f".{path.name}.part.mp4")
    subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency={p.tone_hz}:sample_rate=48000:duration={seconds}",
         "-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[a]",
         "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", str(FPS), "-b:v", BITRATE,
         "-maxrate", BITRATE, "-bufsize", "8M", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-ac", "1", str(tmp)],
        check=True,
    )
    tmp.rename(path)
    return path


def clips(size: str, n: int, seconds: float) -> list[Path]:
    """The first ``n`` clips of ``size`` (``720p`` or ``1080p``), made where missing."""
    if FFMPEG is None:
        raise RuntimeError("Debian's ffmpeg is not installed (scripts/setup.sh installs it)")
    width, height = SIZES[size]
    folder = CACHE / f"ingest-{width}x{height}-{seconds:g}s-v1"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = plan(i, seconds)
        path = folder / p.name
        if not path.exists():
            make_clip(path, p, width, height, seconds)
        out.append(path)
    return out


def copy_inbox(sources: list[Path], inbox: Path) -> Path:
    """A fresh copy of ``sources`` in ``inbox`` (the copy also warms the page cache)."""
    inbox.mkdir(parents=True, exist_ok=True)
    for src in sources:
        shutil.copyfile(src, inbox / src.name)
    return inbox


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def footage_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's ``footage ingest``: no FOOTAGE_*/PREFECT_* of ours, ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTAGE_", "PREFECT_"))}
    env.update({"FOOTAGE_HOME": str(home), "FOOTAGE_STORAGE__BACKEND": "local", "PREFECT_HOME": str(PREFECT_HOME)})
    env.update(extra or {})
    return env


def warm_prefect_home() -> None:
    """Create the temporary server's database once, untimed (a user's runs find it there)."""
    if (PREFECT_HOME / "prefect.db").exists():
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="footage-bench-warm-") as tmp:
        (Path(tmp) / "inbox").mkdir()
        subprocess.run([str(FOOTAGE), "ingest", "--json"], env=footage_env(Path(tmp)),
                       capture_output=True, text=True, check=True)


def run_footage(sources: list[Path], work: Path, env: dict[str, str] | None = None) -> dict:
    """``footage ingest --json`` on a fresh home holding a copy of ``sources``; timed."""
    home = work / "footage-home"
    copy_inbox(sources, home / "inbox")
    cpu, t = _children_cpu(), time.perf_counter()
    p = subprocess.run([str(FOOTAGE), "ingest", "--json"], env=footage_env(home, env),
                       capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t, _children_cpu() - cpu
    try:
        summary = json.loads(p.stdout[p.stdout.index("{"):])
    except ValueError:
        raise RuntimeError(f"footage ingest printed no JSON (exit {p.returncode}): {p.stderr[-3000:]}") from None
    problems = summary.get("error") or summary["failed"] or summary["quarantined"]
    if p.returncode != 0 or problems or summary["ingested"] != len(sources):
        raise RuntimeError(f"footage ingest did not ingest all {len(sources)} clips (exit {p.returncode}): "
                           f"ingested {summary['ingested']}, {problems}; {p.stderr[-2000:]}")
    return {"seconds": seconds, "cpu_s": cpu, "summary": summary, "findings": footage_findings(home, summary)}


def footage_findings(home: Path, summary: dict) -> dict[str, dict[str, list[Interval]]]:
    """file name -> kind -> intervals, from the manifests of the records the run stored."""
    from storage import LocalStore

    store = LocalStore(home / "store")
    out = {}
    for s in summary["stored"]:
        manifest = json.loads(store.get_bytes(f"manifests/{s['sha256']}.json"))
        events = manifest["qc_events"]
        out[Path(s["file"]).name] = {
            k: sorted((e["start"], e["end"]) for e in events if e["kind"] == k) for k in KINDS
        }
    return out


def run_ffmpeg(sources: list[Path], work: Path, jobs: int = 2) -> dict:
    """``ffmpeg_pipeline.sh`` on a fresh copy of ``sources``; timed."""
    inbox, store = copy_inbox(sources, work / "ffmpeg-inbox"), work / "ffmpeg-store"
    cpu, t = _children_cpu(), time.perf_counter()
    p = subprocess.run(["bash", str(PIPELINE), str(inbox), str(store), str(jobs)], capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if p.returncode:
        raise RuntimeError(f"ffmpeg_pipeline.sh failed (exit {p.returncode}): {p.stderr[-3000:]}")
    findings = {}
    for src in sources:
        stem = src.stem
        findings[src.name] = ffmpeg_findings((store / stem / f"{stem}.qc.log").read_text())
        for suffix in (src.suffix, ".master.mkv", ".access.mp4"):
            if not (store / stem / f"{stem}{suffix}").is_file():
                raise RuntimeError(f"ffmpeg_pipeline.sh left no {stem}{suffix} in {store / stem}")
    return {"seconds": seconds, "cpu_s": cpu, "findings": findings}


_LOG = re.compile(r"(black_start|black_end|freeze_start|freeze_end|silence_start|silence_end)[:=]\s*(-?[\d.]+)")


def ffmpeg_findings(log: str) -> dict[str, list[Interval]]:
    """kind -> intervals, from the log of blackdetect, freezedetect and silencedetect."""
    opened: dict[str, float] = {}
    out: dict[str, list[Interval]] = {k: [] for k in KINDS}
    for field, value in _LOG.findall(log):
        kind, edge = field.split("_")
        if edge == "start":
            opened[kind] = max(0.0, float(value))
        elif kind in opened:
            out[kind].append((opened.pop(kind), float(value)))
    return {k: sorted(v) for k, v in out.items()}


def _close(a: Interval, b: Interval) -> bool:
    return abs(a[0] - b[0]) <= TOLERANCE and abs(a[1] - b[1]) <= TOLERANCE


def compare(ours: dict[str, dict[str, list[Interval]]], theirs: dict[str, dict[str, list[Interval]]]) -> dict:
    """Per kind: counts on each side, intervals matched (both ends within the tolerance), and
    every interval left unmatched on either side, with its file. ``same`` when nothing is left."""
    result: dict = {"tolerance_s": TOLERANCE, "same": set(ours) == set(theirs), "files": len(theirs)}
    for kind in KINDS:
        row = {"footage": 0, "ffmpeg": 0, "matched": 0, "only_footage": [], "only_ffmpeg": []}
        for name in sorted(set(ours) | set(theirs)):
            a = list(ours.get(name, {}).get(kind, []))
            b = list(theirs.get(name, {}).get(kind, []))
            row["footage"] += len(a)
            row["ffmpeg"] += len(b)
            for x in b:
                hit = next((y for y in a if _close(x, y)), None)
                if hit is None:
                    row["only_ffmpeg"].append([name, *x])
                else:
                    a.remove(hit)
                    row["matched"] += 1
            row["only_footage"] += [[name, *y] for y in a]
        result["same"] = result["same"] and not row["only_footage"] and not row["only_ffmpeg"]
        result[kind] = row
    return result


def planted(n: int, seconds: float) -> dict[str, dict[str, list[Interval]]]:
    """What :func:`plan` put in the first ``n`` clips: a black stretch is also a frozen picture."""
    out = {}
    for p in (plan(i, seconds) for i in range(n)):
        out[p.name] = {"black": [p.black], "freeze": sorted([p.black, p.freeze]), "silence": [p.silence]}
    return out


def machine() -> dict:
    """Cores this process may use and the load average: the figures depend on both."""
    return {"cores": len(os.sched_getaffinity(0)), "load_avg": round(os.getloadavg()[0], 2)}


def record(results: Path, key: str, row: dict) -> None:
    """Keep ``row`` under ``key`` in the JSON file ``results`` (rows of earlier runs stay)."""
    done = json.loads(results.read_text()) if results.exists() else {}
    done[key] = row
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(done, indent=1))
