"""``footage redact`` of two versions of the code against deface, interleaved in one run (a script,
run by hand): the ratio to deface moves with the machine's load from one run to the next, so a
before/after comparison is only fair within a run.

Per clip and round: deface (``bench_redact_e2e.run_deface``), then ``footage redact CLIP --out
OUT.mp4 --json`` with the code of ``--before`` first on ``PYTHONPATH`` (a plain copy of an earlier
commit, e.g. ``git archive c90c48a | tar -x -C /tmp/before``), then with this checkout's code.
Prints one JSON line per round and one per clip (best of the rounds, ratios, text tracks).

    nice .venv/bin/python benchmarks/ab_redact_text.py --before /tmp/before --clips stage_360p,portrait_720p --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_redact_e2e import FOOTAGE, run_deface  # noqa: E402
from clips import CACHE, CLIPS  # noqa: E402


def run(src: Path, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t = time.perf_counter()
    p = subprocess.run([str(FOOTAGE), "redact", str(src), "--out", str(CACHE / "ab_out.mp4"), "--json"],
                       capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    d = json.loads(p.stdout[p.stdout.index("{"):])
    return {"seconds": round(seconds, 2), "rc": p.returncode, "text_tracks": d.get("text_tracks"),
            "qa_residuals": d.get("qa_residuals"), "qa_text_residuals": d.get("qa_text_residuals")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="a copy of the earlier code (its root folder)")
    ap.add_argument("--clips", default="stage_360p,portrait_720p")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    for name in args.clips.split(","):
        src = CLIPS[name]()
        best = {"deface": float("inf"), "before": float("inf"), "after": float("inf")}
        for r in range(args.rounds):
            d = run_deface(src, CACHE / "ab_deface.mp4")["seconds"]
            b, a = run(src, str(Path(args.before).resolve())), run(src, None)
            best = {"deface": min(best["deface"], d), "before": min(best["before"], b["seconds"]),
                    "after": min(best["after"], a["seconds"])}
            print(json.dumps({"clip": name, "round": r, "deface_s": round(d, 2), "before": b, "after": a,
                              "load_avg": round(os.getloadavg()[0], 2)}), flush=True)
        print(json.dumps({"clip": name, "best_s": {k: round(v, 2) for k, v in best.items()},
                          "ratio_before": round(best["deface"] / best["before"], 2),
                          "ratio_after": round(best["deface"] / best["after"], 2),
                          "after_speedup": round(best["before"] / best["after"], 2)}), flush=True)


if __name__ == "__main__":
    main()
