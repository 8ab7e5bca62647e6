"""Text masking on real pictures (issue 24): precision and recall of the text finder, and text
tracks per minute on real clips without text, before and after in the same run.

The evaluation set is tests/data/textset (see its README.md for the sources and licences):
Chinese licence plates photographed in the street and in car parks, two photographed documents
and a scanned page (hand-drawn boxes around each line), and pictures of faces without text (three
sample pictures shipped in scikit-image and Matplotlib, and one frame a second of the shared clips
without text: a talking head, a juggler, a woman doing her make-up, a woman and her dog). Each
picture is also tried dark and flat (``textset.low_contrast``: luminance squeezed into 40..96,
dark text on a dark ground), where the contrast normalisation is meant to help.

Contenders (``media.redact.spec.TextConfig``), each a text finder as the tracks pass decides:

* ``before``: the finder before issue 24: every detected box is text, no contrast normalisation,
  never enlarged, regions scored over their boxes (``contrast=False, read=False, upscale=1,
  region_score=False``), at 960 px;
* ``after``: the defaults: a box is text only when the recogniser reads it as text, detected on
  the contrast-normalised picture, at 960 px;
* ``after_no_contrast``: the defaults without the normalisation (what it changes on its own);
* ``after_640``: the defaults on a smaller picture (640 px), to see whether recall allows it.

Scores (``tests/text/textset.score``): a plate or document line is found when the boxes (grown
as the render grows a mask) cover 80 % of it; precision is the share of boxes lying on annotated
text; ``false_boxes_on_faces`` counts boxes on the pictures without text.

Text tracks per minute: ``find_tracks`` (faces and text, as ``footage redact tracks`` does) on
each clip without text, ``before`` (every detected track is text, whole-picture detection at the
faces' cadence, as before issue 24) and ``after`` (the defaults). Goal: 0.

Run::

    nice .venv/bin/python -m pytest benchmarks/bench_text_precision.py -p no:cacheprovider -s
    FOOTAGE_TEXT_CONFIGS=before,after ...   # fewer contenders
    FOOTAGE_BENCH_SMOKE=1 .venv/bin/python -m pytest benchmarks/bench_text_precision.py --benchmark-disable -s

Smoke mode: six pictures, four face frames, and the first 2 s of the talking-head clip; nothing
timed or scored against the goals. Each test prints one JSON row and keeps it in
``benchmarks/.cache/text_precision_results.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "text"))

import textset  # noqa: E402
from clips import CACHE  # noqa: E402
from smoke import SMOKE  # noqa: E402

from media.redact.spec import DetectionConfig, TextConfig  # noqa: E402

RESULTS = CACHE / "text_precision_results.json"
CONFIGS = {
    "before": TextConfig(contrast=False, read=False, upscale=1.0, region_score=False),
    "after": TextConfig(),
    "after_no_contrast": TextConfig(contrast=False),
    "after_640": TextConfig(max_side=640),
}
#: the tracks pass before issue 24: whole-picture detection on every face detection frame
BEFORE_TRACKS = TextConfig(contrast=False, read=False, upscale=1.0, region_score=False, every_seconds=1e-6)
GOAL_RECALL = 0.9


def _chosen() -> list[str]:
    names = os.environ.get("FOOTAGE_TEXT_CONFIGS", "before,after" if SMOKE else ",".join(CONFIGS))
    return [n.strip() for n in names.split(",") if n.strip()]


def _keep(name: str, row: dict) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    done[name] = row
    RESULTS.write_text(json.dumps(done, indent=1, ensure_ascii=False))
    print("\n" + json.dumps(row, ensure_ascii=False), flush=True)


def _pictures():
    pics = textset.pictures()
    faces = [textset.Picture(n, img, [], "faces") for n, img in textset.face_frames(1.0, limit=2 if SMOKE else None)]
    if SMOKE:
        pics = [p for p in pics if p.name in ("plate_01.jpg", "plate_10.jpg", "plate_14.jpg", "doc_02.jpg",
                                              "matplotlib:grace_hopper.jpg", "skimage:astronaut.png")]
    return pics, faces


def _run(config: TextConfig, pics, faces, detector, recognizer) -> dict:
    """Every picture through ``find_text``, given the faces CenterFace finds on it (threshold and
    padding of the tracks pass), as the tracks pass decides."""
    from media.redact import CenterFace
    from media.redact.text import find_text

    face_detector, det_config = CenterFace(threshold=DetectionConfig().threshold), DetectionConfig()

    row = {}
    t0 = time.perf_counter()
    n = 0
    for name, ps in (("normal", pics), ("dark", [textset.Picture(p.name, textset.low_contrast(p.image), p.labels,
                                                                    p.group) for p in pics]),
                     ("shared_faces", faces)):
        found = []
        for p in ps:
            in_picture = face_detector.detect(p.image).boxes
            d, _ = find_text(p.image, config, detector, recognizer, in_picture, det_config.pad)
            found.append((p, d.boxes))
            n += 1
        row[name] = textset.score(found, config.pad).to_dict()
    row["seconds_per_picture"] = round((time.perf_counter() - t0) / max(1, n), 3)
    return row


def test_text_precision_pictures(benchmark):
    """Recall on plates and documents, precision, false boxes on faces: each contender, same pictures."""
    from media.redact.text import text_detector, text_recognizer

    pics, faces = _pictures()
    if not faces:
        pytest.skip(f"the shared clips are absent: {textset.shared_video()} (set FOOTAGE_SHARED)")
    recognizer = text_recognizer()
    rows = {}
    for k, name in enumerate(_chosen()):
        config = CONFIGS[name]
        detector = text_detector(config)
        if k == 0:
            rows[name] = benchmark.pedantic(_run, args=(config, pics, faces, detector, recognizer), rounds=1,
                                            iterations=1)
        else:
            rows[name] = _run(config, pics, faces, detector, recognizer)
    row = {"pictures": len(pics), "face_frames": len(faces), "contenders": rows,
           "load_avg": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(row)
    _keep("pictures_smoke" if SMOKE else "pictures", row)
    if not SMOKE and "after" in rows:
        after = rows["after"]["normal"]
        assert after["recall_plate"] >= GOAL_RECALL and after["recall_document"] >= GOAL_RECALL, after
        assert rows["after"]["shared_faces"]["boxes"] == 0, rows["after"]["shared_faces"]


def _head(src: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``src``, cut once into the cache (``clips._write``: 25 fps)."""
    from clips import _frames, _write

    out = CACHE / f"head_{src.stem}_{frames}f.mp4"
    if not out.exists():
        with av.open(str(src)) as c:
            w, h = c.streams.video[0].width, c.streams.video[0].height
        _write(out, [_frames(src, 0, frames)], w, h)
    return out


def _tracks(clips: list[Path], config: TextConfig) -> dict:
    from media.redact import find_tracks

    t0 = time.perf_counter()
    seconds, per_clip, stats = 0.0, {}, {}
    for clip in clips:
        ts = find_tracks(clip, DetectionConfig(), text=config)
        texts = [t for t in ts.tracks if t.kind == "text"]
        seconds += ts.frames / ts.fps
        per_clip[clip.name] = {"text_tracks": len(texts), "read": [t.text for t in texts], "stats": ts.text_stats,
                               "face_tracks": sum(t.kind == "face" for t in ts.tracks)}
        for k, v in ts.text_stats.items():
            stats[k] = stats.get(k, 0) + v
    total = sum(c["text_tracks"] for c in per_clip.values())
    return {"minutes": round(seconds / 60, 3), "text_tracks": total,
            "text_tracks_per_minute": round(total / (seconds / 60), 2) if seconds else None,
            "seconds": round(time.perf_counter() - t0, 1), "stats": stats, "clips": per_clip}


def test_text_tracks_per_minute(benchmark):
    """Text tracks found on real clips without text, before and after (goal: none after)."""
    clips = [c for c in textset.clips_without_text() if c.is_file()]
    if not clips:
        pytest.skip(f"the shared clips are absent: {textset.shared_video()} (set FOOTAGE_SHARED)")
    if SMOKE:
        clips = [_head(clips[0], 50)]
    rows = {"before": benchmark.pedantic(_tracks, args=(clips, BEFORE_TRACKS), rounds=1, iterations=1),
            "after": _tracks(clips, TextConfig())}
    row = {"clips": [c.name for c in clips], **rows, "load_avg": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update({k: v for k, v in row.items() if k != "clips"})
    _keep("tracks_smoke" if SMOKE else "tracks", row)
    if not SMOKE:
        assert rows["after"]["text_tracks"] == 0, rows["after"]["clips"]
