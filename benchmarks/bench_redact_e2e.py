"""``footage redact`` as users run it (QA on, defaults) against the ``deface`` command line.

What is compared, per clip, in the same run
-------------------------------------------
* ours: ``.venv/bin/footage redact CLIP --out OUT.mp4 --json`` in a subprocess: first pass
  (detect + track), render (H.264 veryfast, CRF 20, source size, audio kept) and the QA pass, with
  the redaction log; the model is loaded once in the process (once per clip).
* deface: ``deface CLIP -o OUT --replacewith solid --keep-audio --backend onnxrt --ffmpeg-config
  '{"codec": "libx264", "quality": null, "macro_block_size": 1, "ffmpeg_params": ["-preset",
  "veryfast", "-crf", "20"]}'``: the same encoder settings as ours at the source size (imageio's
  defaults would encode at preset medium, quality 5, and rescale 1080 to 1088 rows); deface's own
  defaults otherwise (threshold 0.2, every frame, ellipse masks); the model loaded once per run.

frames/s = source frames / wall-clock seconds of the whole command (start-up included, for both).

Residual faces, by a check independent of both tools: reference faces are found in the *source*
with CenterFace at the legacy QA's scale (2x up to a 1280-px longer side, else 1x) and a 0.5
threshold, on every frame (cached in benchmarks/.cache). A reference face counts as residual in
an output when less than half of its box's inner 70% (the pixels not already dark in the source)
is dark there: both tools paint black. The check reads pixels, so it does not depend on either
tool's detector finding (or missing) a face in its own output.

deface needs OpenCV and imageio-ffmpeg, which the project keeps out of its venv (pyproject's
``[tool.uv] override-dependencies``): ``.venv/bin/deface`` fails on ``import imageio.plugins.ffmpeg``.
So a throwaway venv is made once with pip in ``benchmarks/.cache/deface-venv``
(``python3 -m venv`` + ``pip install deface==1.5.0 onnx onnxruntime==<ours> opencv-python-headless``);
set ``FOOTAGE_DEFACE_VENV`` to use another.

Run::

    nice .venv/bin/python -m pytest benchmarks/bench_redact_e2e.py -p no:cacheprovider -s
    # smoke (a 30-frame 360p clip, one round, no timing statistics):
    .venv/bin/python -m pytest benchmarks/bench_redact_e2e.py -k smoke --benchmark-disable -s

In smoke mode (``FOOTAGE_BENCH_SMOKE=1``, CI) only the smoke test runs, and the deface venv is
never built (PyPI downloads and a minute CI does not have): without it our side runs and is
checked alone, then the test skips with that reason.

Each test prints one row and adds it to ``benchmarks/.cache/e2e_results.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from clips import CACHE, CLIPS, smoke_clip  # noqa: E402
from smoke import SMOKE  # noqa: E402

DEFACE_VENV = Path(os.environ.get("FOOTAGE_DEFACE_VENV", CACHE / "deface-venv"))
FOOTAGE = Path(sys.executable).parent / "footage"
DEFACE_FFMPEG = {"codec": "libx264", "quality": None, "macro_block_size": 1,
                 "ffmpeg_params": ["-preset", "veryfast", "-crf", "20"]}
RESULTS = CACHE / "e2e_results.json"


def deface_cli() -> Path:
    """``deface`` in a throwaway venv of its own (built with pip on first use)."""
    exe = DEFACE_VENV / "bin" / "deface"
    if exe.exists():
        return exe
    import onnxruntime

    subprocess.run(["python3", "-m", "venv", str(DEFACE_VENV)], check=True)
    subprocess.run([str(DEFACE_VENV / "bin" / "pip"), "install", "-q", "deface==1.5.0", "onnx",
                    f"onnxruntime=={onnxruntime.__version__}", "opencv-python-headless"], check=True)
    return exe


def run_ours(src: Path, out: Path) -> dict:
    t = time.perf_counter()
    p = subprocess.run([str(FOOTAGE), "redact", str(src), "--out", str(out), "--json"],
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if p.returncode not in (0, 1):  # 1: QA found residual faces (reported, not a crash)
        raise RuntimeError(f"footage redact failed ({p.returncode}): {p.stderr[-2000:]}")
    summary = json.loads(p.stdout[p.stdout.index("{"):])
    return {"seconds": seconds, "qa_residuals": summary["qa_residuals"], "rc": p.returncode}


def run_deface(src: Path, out: Path) -> dict:
    exe = deface_cli()
    t = time.perf_counter()
    subprocess.run([str(exe), str(src), "-o", str(out), "--replacewith", "solid", "--keep-audio",
                    "--backend", "onnxrt", "--ffmpeg-config", json.dumps(DEFACE_FFMPEG)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"seconds": time.perf_counter() - t}


def reference_faces(src: Path) -> dict[int, np.ndarray]:
    """frame -> (N, 4) faces in the source (CenterFace, legacy QA scale, threshold 0.5), cached."""
    from media.redact import CenterFace
    from media.redact.render import detect_frame

    cache = CACHE / f"ref_{src.stem}_{src.stat().st_size}.json"
    if cache.exists():
        return {int(k): np.asarray(v, np.float64).reshape(-1, 4) for k, v in json.loads(cache.read_text()).items()}
    det = CenterFace(threshold=0.5)
    out = {}
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        scale = 2.0 if max(s.width, s.height) <= 1280 else 1.0
        for i, frame in enumerate(c.decode(s)):
            out[i] = detect_frame(det, frame, scale)[0].boxes.astype(np.float64)
    cache.write_text(json.dumps({k: v.round(1).tolist() for k, v in out.items()}))
    return out


def residual_faces(src: Path, out: Path, ref: dict[int, np.ndarray]) -> dict:
    """Reference faces left visible in ``out`` (see the module's docstring)."""
    residual, frames, total = 0, set(), 0
    with av.open(str(src)) as a, av.open(str(out)) as b:
        n_out = 0
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0))):
            n_out += 1
            boxes = ref.get(i)
            if boxes is None or not len(boxes):
                continue
            ia, ib = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            for box in boxes:
                total += 1
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                hw, hh = (box[2] - box[0]) * 0.35, (box[3] - box[1]) * 0.35
                x1, y1 = max(0, int(cx - hw)), max(0, int(cy - hh))
                x2, y2 = min(ia.shape[1], int(np.ceil(cx + hw))), min(ia.shape[0], int(np.ceil(cy + hh)))
                pa, pb = ia[y1:y2, x1:x2].max(axis=2), ib[y1:y2, x1:x2].max(axis=2)
                lit = pa > 40
                if not lit.any():
                    continue
                if (pb[lit] <= 40).mean() < 0.5:
                    residual += 1
                    frames.add(i)
    with av.open(str(out)) as b:
        out_frames = sum(1 for _ in b.decode(video=0))
    return {"residual_faces": residual, "residual_frames": len(frames), "reference_faces": total,
            "out_frames": out_frames}


def _compare(benchmark, name: str, src: Path, rounds: int, tmp_path: Path, baseline: bool = True) -> dict:
    """One row: ours and (with ``baseline``) deface on ``src``, timed, and their residual faces."""
    frames = sum(1 for _ in av.open(str(src)).decode(video=0))
    ref = reference_faces(src)
    if baseline:
        deface_cli()  # built before anything is timed
    ours_out, deface_out = tmp_path / f"{name}.ours.mp4", tmp_path / f"{name}.deface.mp4"
    # Interleaved rounds, best of each: the machine is shared; the minimum is the least disturbed.
    # Each round runs each command once; the first round's run of ours is pytest-benchmark's
    # record (unless --benchmark-disable), so both sides get the same number of samples.
    t_deface = t_ours = float("inf")
    qa = None
    for r in range(rounds):
        if baseline:
            t_deface = min(t_deface, run_deface(src, deface_out)["seconds"])
        if r == 0:  # pytest-benchmark's record (run once, untimed, under --benchmark-disable)
            res = benchmark.pedantic(run_ours, args=(src, ours_out), rounds=1, iterations=1)
        else:
            res = run_ours(src, ours_out)
        t_ours, qa = min(t_ours, res["seconds"]), res["qa_residuals"]
    row = {
        "clip": name, "size": "{}x{}".format(*_size(src)), "frames": frames, "rounds": rounds,
        "ours_fps": round(frames / t_ours, 2), "deface_fps": round(frames / t_deface, 2) if baseline else None,
        "ratio": round(t_deface / t_ours, 2) if baseline else None, "ours_qa_residuals": qa,
        "ours": residual_faces(src, ours_out, ref),
        "deface": residual_faces(src, deface_out, ref) if baseline else None,
        "cores": len(os.sched_getaffinity(0)), "load_avg": round(os.getloadavg()[0], 2),
    }
    benchmark.extra_info.update(row)
    print("\n" + json.dumps(row), flush=True)
    if baseline:
        done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        done[name] = row
        RESULTS.write_text(json.dumps(done, indent=1))
    return row


def _size(src: Path) -> tuple[int, int]:
    with av.open(str(src)) as c:
        return c.streams.video[0].width, c.streams.video[0].height


ROUNDS = int(os.environ.get("FOOTAGE_BENCH_ROUNDS", "1"))


@pytest.mark.parametrize("name", list(CLIPS))
def test_redact_e2e_vs_deface(benchmark, name, tmp_path):
    if SMOKE:
        pytest.skip("smoke mode: test_redact_e2e_smoke runs the same comparison on a 30-frame clip")
    src = CLIPS[name]()
    if not src.is_file():
        pytest.skip(f"clip not found: {src} (set FOOTAGE_SHARED)")
    _compare(benchmark, name, src, ROUNDS, tmp_path)


def test_redact_e2e_smoke(benchmark, tmp_path):
    """One round on a 30-frame 360p clip: both commands run, outputs are complete and masked."""
    if not CLIPS["crowd_1080p"]().is_file():
        pytest.skip(f"the shared clips are absent: {CLIPS['crowd_1080p']()} (set FOOTAGE_SHARED)")
    src = smoke_clip()
    # CI's smoke run does not build deface's venv; a developer's run does
    baseline = not SMOKE or (DEFACE_VENV / "bin" / "deface").exists()
    row = _compare(benchmark, "smoke_360p_30f", src, 1, tmp_path, baseline)
    assert row["ours"]["out_frames"] == row["frames"]
    assert row["ours"]["residual_faces"] == 0
    if not baseline:
        pytest.skip(f"footage redact ran and passed; the deface baseline did not: no deface venv at {DEFACE_VENV} "
                    "(smoke mode never builds it: PyPI downloads; build it with a run outside smoke mode)")


def table(results: dict) -> str:
    lines = ["| clip | size | frames | ours fps (QA on) | deface fps | ratio | residual faces ours / deface "
             "(reference faces) | our QA residuals |", "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['ours_fps']} | {r['deface_fps']} | "
                     f"{r['ratio']}x | {r['ours']['residual_faces']} / {r['deface']['residual_faces']} "
                     f"({r['ours']['reference_faces']}) | {r['ours_qa_residuals']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(json.loads(RESULTS.read_text())))
