"""The per-file work of an ingest worker with no Prefect and no Dask: bench_scaling's ceiling.

``plan``: probe every clip of the run, group the sessions and compute each file's session id and
listening windows, as the flow does before its decode passes; written to a JSON file (not timed).

``run``: for each file given, one after another in this one process: intake (validate, probe,
SHA-256), the one decode pass of :func:`records.derivatives.process_recording` (gap checks,
master, access copy; decoder threads as a worker's, ``runner.threads``; the plan's windows), then
a put of the original and both copies into a local store and their verification (streamed back,
re-hashed).

bench_scaling times ``run`` on every clip in one process, and on half the clips in each of two
processes side by side: the ratio is what this machine's cores allow the same work, 1 -> 2,
without any orchestration (what the cluster's ratio is measured against).

Run::

    .venv/bin/python benchmarks/bare_passes.py plan --plan /tmp/plan.json CLIPS...
    .venv/bin/python benchmarks/bare_passes.py run --plan /tmp/plan.json --work /tmp/bare FILES...

``run`` prints one JSON line: ``{"files": n, "seconds": wall, "cpu_s": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from media.gaps.session import listening_windows  # noqa: E402
from media.gaps.speech import Window  # noqa: E402
from media.segment import segment  # noqa: E402
from records import intake  # noqa: E402
from records.derivatives import process_recording  # noqa: E402
from records.settings import Settings  # noqa: E402
from storage import LocalStore  # noqa: E402


def plan(files: list[Path], settings: Settings) -> dict[str, dict]:
    """File name -> its session id and listening windows (the flow's, from all the run's files)."""
    recordings = [intake.recording_from_file(p, settings, name=p.name) for p in files]
    out = {}
    for s in segment(recordings, settings.segment):
        windows = listening_windows(s.recordings, s.gaps, settings.gaps)
        out |= {r.path: {"session": s.id, "listen": [asdict(w) for w in windows.get(r.path, [])]} for r in s.recordings}
    return out


def run(files: list[Path], planned: dict[str, dict], work: Path, settings: Settings) -> None:
    """Intake, decode pass, store and verify of each file; one line of JSON with the times."""
    store = LocalStore(work / "store")
    t0, c0 = time.perf_counter(), time.process_time()
    for path in files:
        rec = intake.identify(intake.validate(path, path.parent), settings).recording
        mine = planned.get(rec.path, {})
        with tempfile.TemporaryDirectory(dir=work) as scratch:
            done = process_recording(rec, path, scratch, gaps=settings.gaps, archive=settings.archive,
                                     session_id=mine.get("session"), threads=settings.runner.threads,
                                     listen=[Window(**w) for w in mine["listen"]] if "listen" in mine else None)
            copies = [(f"originals/{rec.sha256}", path, rec.sha256)]
            copies += [(f"derivatives/{d.sha256}", d.path, d.sha256) for d in done.archive.derivatives()]
            for key, source, sha in copies:
                store.put(key, source, sha256=sha)
            if not all(store.verify(key, sha).ok for key, _, sha in copies):
                raise SystemExit(f"{path}: a stored copy does not verify")
    print(json.dumps({"files": len(files), "seconds": round(time.perf_counter() - t0, 3),
                      "cpu_s": round(time.process_time() - c0, 3)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("plan", "run"))
    ap.add_argument("--plan", type=Path, required=True, help="the plan's JSON file (written by plan, read by run)")
    ap.add_argument("--work", type=Path, help="run: scratch and the local store (created)")
    ap.add_argument("files", type=Path, nargs="+")
    args = ap.parse_args()
    settings = Settings()
    if args.what == "plan":
        args.plan.write_text(json.dumps(plan(args.files, settings)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    run(args.files, json.loads(args.plan.read_text()), args.work, settings)


if __name__ == "__main__":
    main()
