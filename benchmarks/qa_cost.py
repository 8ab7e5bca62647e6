"""What the QA pass costs against the render it checks, per clip: CPU seconds and wall seconds.

The render here is what ``footage redact`` runs before QA: ``find_tracks`` + ``render`` (defaults).
CPU seconds (all threads of the process) are the figure to read on a shared machine: they move
far less with other people's load than wall time. Issue 15 asks for QA <= 0.5 x render.

Run::

    nice .venv/bin/python benchmarks/qa_cost.py [--clips synthetic,stage_360p,portrait_720p,crowd_1080p]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from qa_recall import ALL, CACHE  # noqa: E402
from media.redact import QAConfig, RedactSpec, find_tracks, qa_pass, render  # noqa: E402


def cost(name: str, legacy: bool) -> dict:
    src = ALL[name]()
    out = CACHE / f"cost_{name}.mp4"
    c0, w0 = time.process_time(), time.perf_counter()
    tracks = find_tracks(src)
    render(src, out, RedactSpec(), tracks=tracks)
    row = {"clip": name, "frames": tracks.frames, "render_cpu_s": time.process_time() - c0,
           "render_wall_s": time.perf_counter() - w0}
    for label, config in (("qa", QAConfig()), ("legacy_qa", QAConfig.legacy()))[: 2 if legacy else 1]:
        c0, w0 = time.process_time(), time.perf_counter()
        rep = qa_pass(out, tracks, config=config)
        row[f"{label}_cpu_s"] = time.process_time() - c0
        row[f"{label}_wall_s"] = time.perf_counter() - w0
        row[f"{label}_cpu_ratio"] = row[f"{label}_cpu_s"] / row["render_cpu_s"]
        row[f"{label}_wall_ratio"] = row[f"{label}_wall_s"] / row["render_wall_s"]
        row[f"{label}_checked"], row[f"{label}_crops"], row[f"{label}_residuals"] = rep.checked, rep.crops, len(rep.residuals)
        row[f"{label}_scale"], row[f"{label}_every"] = rep.config.scale, rep.config.every
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return row


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="synthetic,stage_360p,portrait_720p,crowd_1080p")
    ap.add_argument("--legacy", action="store_true", help="also time the legacy pass (slow)")
    args = ap.parse_args(argv)
    rows = [cost(n, args.legacy) for n in args.clips.split(",")]
    (CACHE / "qa_cost.json").write_text(json.dumps(rows, indent=1))
    print("| clip | frames | render CPU s | QA CPU s | ratio (CPU) | render wall s | QA wall s | ratio (wall) | full checks | crops |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['frames']} | {r['render_cpu_s']:.1f} | {r['qa_cpu_s']:.1f} | {r['qa_cpu_ratio']:.2f} "
              f"| {r['render_wall_s']:.1f} | {r['qa_wall_s']:.1f} | {r['qa_wall_ratio']:.2f} | {r['qa_checked']} | {r['qa_crops']} |")
    return rows


if __name__ == "__main__":
    main()
