"""Planted-miss recall of the QA pass, before (``QAConfig.legacy()``) and after (defaults).

A planted miss is a face track dropped from the render on purpose, as if the main pass had never
seen it (as in tests/redact/test_redact.py::test_qa_finds_a_planted_unmasked_face). For each clip:

1. ``find_tracks`` with the defaults;
2. a clean render (every track masked): what each QA pass reports there is a false alarm;
3. renders with tracks dropped. To keep the cost down, tracks that never come near each other
   (their boxes grown 3x never overlap on a common frame) are dropped together in one render;
   a residual counts for the dropped track whose box, grown 2x, holds its centre on that frame.
   Both passes see the same renders. With ``--together CLIP`` every track of that clip is dropped
   in one render (for the big clips, where the legacy pass costs minutes a render): harder for
   the new pass, which then has no mask to place its crops around.

A planted miss is *caught* when the pass reports a residual on it. For the review of
``min_persist`` the script also lists, per pass, the planted misses that showed only as one-frame
detections, and every one-frame detection on the clean renders with whether it touches a mask.

Run (slow: the legacy pass looks at every frame, 2x up to 1280 px)::

    nice .venv/bin/python benchmarks/qa_recall.py [--clips synthetic,stage_360p,portrait_720p,crowd_1080p]

Writes ``benchmarks/.cache/qa_recall.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from clips import CACHE, CLIPS  # noqa: E402
from media.redact import QAConfig, RedactSpec, TrackSet, find_tracks, qa_pass, render  # noqa: E402
from media.redact.track import pad_boxes  # noqa: E402


def synthetic() -> Path:
    """The two-face clip of tests/redact (a real face pasted at known, moving positions)."""
    spec = importlib.util.spec_from_file_location("redact_conftest", ROOT / "tests" / "redact" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    path = CACHE / "two_faces_320x240.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        faces = [mod.Face(start=(10, 20), end=(150, 60), height=100),
                 mod.Face(start=(250, 150), end=(235, 140), height=80, first=12, last=47, flip=True)]
        mod.make_clip(path, faces, frames=60)
    return path


ALL = {"synthetic": synthetic, **CLIPS}


def _near(a, b) -> bool:
    """Whether two tracks' boxes, grown 3x, overlap on some common frame."""
    lo, hi = max(a.first, b.first), min(a.last, b.last)
    for f in range(lo, hi + 1):
        ba, bb = a.box_at(f), b.box_at(f)
        if ba is None or bb is None:
            continue
        ga, gb = pad_boxes(ba, 3.0)[0], pad_boxes(bb, 3.0)[0]
        if ga[0] < gb[2] and gb[0] < ga[2] and ga[1] < gb[3] and gb[1] < ga[3]:
            return True
    return False


def groups(tracks) -> list[list]:
    out: list[list] = []
    for t in sorted(tracks, key=lambda t: -(t.last - t.first)):
        for g in out:
            if not any(_near(t, o) for o in g):
                g.append(t)
                break
        else:
            out.append([t])
    return out


def _on(residual, track) -> bool:
    box = track.box_at(residual.frame)
    if box is None:
        return False
    g = pad_boxes(box, 2.0)[0]
    cx, cy = (residual.box[0] + residual.box[2]) / 2, (residual.box[1] + residual.box[3]) / 2
    return bool(g[0] <= cx <= g[2] and g[1] <= cy <= g[3])


def _touches_mask(r, tracks: TrackSet) -> bool:
    for t in tracks.tracks:
        box = t.box_at(r.frame)
        if box is None:
            continue
        g = pad_boxes(box, tracks.config.pad)[0]
        if g[0] < r.box[2] and r.box[0] < g[2] and g[1] < r.box[3] and r.box[1] < g[3]:
            return True
    return False


PASSES = {"before": QAConfig.legacy, "after": QAConfig}


def _variant(text: str):
    name, _, kw = text.partition("=")
    return name, (lambda: QAConfig(**json.loads(kw)))


def measure(name: str, src: Path, work: Path, reuse: bool = False, before: dict | None = None,
            together: bool = False) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tracks = find_tracks(src)
    row: dict = {"clip": name, "frames": tracks.frames, "tracks": len(tracks.tracks),
                 "size": f"{tracks.width}x{tracks.height}", "passes": {},
                 "find_s": round(time.perf_counter() - t0, 2)}
    clean = work / f"{name}.clean.mp4"
    t0 = time.perf_counter()
    if not (reuse and clean.exists()):
        render(src, clean, RedactSpec(), tracks=tracks)
    row["render_s"] = round(time.perf_counter() - t0 + row["find_s"], 2)  # find_tracks + render
    passes = {p: m for p, m in PASSES.items() if not (before and p == "before")}
    if before:
        row["passes"]["before"] = before["passes"]["before"]
        row["before_from"] = "an earlier run on the same renders"
    for p, make in passes.items():
        t0 = time.perf_counter()
        rep = qa_pass(clean, tracks, config=make())
        row["passes"][p] = {
            "qa_s_clean": round(time.perf_counter() - t0, 2), "checked": rep.checked, "crops": rep.crops,
            "false_residuals": [r.__dict__ for r in rep.residuals],
            "clean_blips": [{**r.__dict__, "touches_mask": _touches_mask(r, tracks)} for r in rep.isolated],
            "caught": [], "missed": [], "only_blips": [],
        }
    row["grouping"] = "all tracks dropped in one render" if together else "separated tracks dropped together"
    for gi, group in enumerate([list(tracks.tracks)] if together else groups(tracks.tracks)):
        dropped = {t.id for t in group}
        partial = TrackSet(**{**tracks.__dict__, "tracks": [t for t in tracks.tracks if t.id not in dropped]})
        out = work / f"{name}.drop{gi}.mp4"
        if not (reuse and out.exists()):
            render(src, out, RedactSpec(), tracks=partial)
        for p, make in passes.items():
            rep = qa_pass(out, partial, config=make())
            for t in group:
                hit = [r for r in rep.residuals if _on(r, t)]
                blips = [r for r in rep.isolated if _on(r, t)]
                entry = {"track": t.id, "span": [t.first, t.last], "hits": t.hits,
                         "best_score": round(max(t.scores), 3), "residual_frames": sorted({r.frame for r in hit}),
                         "one_frame_residuals": sum(1 for r in hit if r.seen == 1)}
                row["passes"][p]["caught" if hit else "missed"].append(entry)
                if blips and not hit:
                    row["passes"][p]["only_blips"].append({**entry, "blip_frames": [r.frame for r in blips]})
        print(f"  {name}: group {gi} ({sorted(dropped)}) done", flush=True)
    b = {x["track"] for x in row["passes"]["before"]["caught"]}
    for p in row["passes"]:
        a = {x["track"] for x in row["passes"][p]["caught"]}
        row["passes"][p]["lost"], row["passes"][p]["gained"] = sorted(b - a), sorted(a - b)
    row["lost"] = row["passes"]["after"]["lost"]
    return row


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="synthetic,stage_360p,portrait_720p,crowd_1080p")
    ap.add_argument("--work", type=Path, default=CACHE / "qa_recall")
    ap.add_argument("--variant", action="append", default=[],
                    help='another pass to compare, NAME=JSON of QAConfig fields, e.g. x1={"scale": 1}')
    ap.add_argument("--out", type=Path, default=CACHE / "qa_recall.json")
    ap.add_argument("--together", default="", help="clips whose tracks are all dropped in one render "
                    "(cheaper; attribution by place only; no crops for the new pass, which sees no masks)")
    ap.add_argument("--reuse", action="store_true", help="reuse renders left in --work by an earlier run")
    ap.add_argument("--before", type=Path, help="take the legacy pass's results from this earlier JSON "
                    "(same renders: use with --reuse)")
    args = ap.parse_args(argv)
    PASSES.update(dict(_variant(v) for v in args.variant))
    rows = []
    for name in args.clips.split(","):
        earlier = None
        if args.before:
            earlier = next((r for r in json.loads(args.before.read_text()) if r["clip"] == name), None)
        rows.append(measure(name, ALL[name](), args.work, args.reuse, earlier,
                            together=name in args.together.split(",")))
        args.out.write_text(json.dumps(rows, indent=1, default=float))
    print("| clip | size | frames | planted misses | caught before | caught after | lost | render s | QA s before | QA s after | false residuals before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pb, pa = r["passes"]["before"], r["passes"]["after"]
        print(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['tracks']} | {len(pb['caught'])} | {len(pa['caught'])} "
              f"| {r['lost'] or '-'} | {r['render_s']} | {pb['qa_s_clean']} | {pa['qa_s_clean']} "
              f"| {len(pb['false_residuals'])}/{len(pa['false_residuals'])} |")
    for r in rows:
        for p, d in r["passes"].items():
            print(f"{r['clip']:14} {p:8} caught {len(d['caught'])}/{r['tracks']} lost {d['lost']} gained {d['gained']} "
                  f"qa_s {d['qa_s_clean']} checked {d['checked']} crops {d['crops']} false {len(d['false_residuals'])} "
                  f"clean blips {len(d['clean_blips'])} only-blip misses {[x['track'] for x in d['only_blips']]}")
    return rows


if __name__ == "__main__":
    main()
