"""Text redaction (issue 14, item 3) on a generated clip: the camera's display (OSD) at the top, a
licence plate moving across, a static document block. After ``footage redact`` every planted text
is masked (the recogniser reads none of it, the pixels there are flat) and the display still reads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from flows.cli import app
from media.redact.sheet import font
from media.redact.spec import TEXT_ID_BASE, RedactSpec, parse_track_id, track_label
from media.redact.text import guess_what
from media.text.synth import OsdClipSpec, _background, _overlay, osd_lines, shown_time

W, H, FPS, SECONDS = 640, 360, 10, 3.0
N = int(FPS * SECONDS)
PLATE = "京N·5H827"
DOCUMENT = ["姓名：王晓明", "身份证号：110105198806", "住址：朝阳区建国路"]
# what the recogniser must not find in the output (the plate without its dot, pieces of each line)
SECRETS = ["5H827", "N5H8", "王晓明", "身份证", "110105", "朝阳区", "建国路"]
OSD = OsdClipSpec(seconds=SECONDS, width=W, height=H, fps=FPS, layout="dashed", weekday=True, seed=7)


@dataclass
class TextClip:
    path: Path
    plate_boxes: list[tuple[int, int, int, int]]  # per frame: the plate's text
    document_boxes: list[tuple[int, int, int, int]]  # each line's text (static)


def _plate_x(i: int) -> int:
    return int(round(30 + (300 - 30) * i / (N - 1)))  # 30 -> 300 px over the clip


def make_text_clip(path: Path) -> TextClip:
    rng = np.random.default_rng(7)
    grid = np.mgrid[0:H, 0:W]
    plate_font, doc_font = font(28), font(20)
    # the document: a sheet of paper with three lines, static
    paper = Image.new("RGB", (230, 120), (238, 236, 228))
    draw = ImageDraw.Draw(paper)
    doc_boxes = []
    px, py = 390, 190
    for k, line in enumerate(DOCUMENT):
        xy = (12, 12 + k * 34)
        draw.text(xy, line, font=doc_font, fill=(20, 20, 20))
        b = draw.textbbox(xy, line, font=doc_font)
        doc_boxes.append((px + b[0], py + b[1], px + b[2], py + b[3]))
    paper_arr = np.asarray(paper, np.float32)
    # the plate: dark text on a light rectangle
    plate = Image.new("RGB", (170, 48), (235, 235, 240))
    d = ImageDraw.Draw(plate)
    d.rectangle([1, 1, 168, 46], outline=(30, 30, 30), width=2)
    d.text((12, 6), PLATE, font=plate_font, fill=(10, 10, 10))
    pb = d.textbbox((12, 6), PLATE, font=plate_font)
    plate_arr = np.asarray(plate, np.float32)
    plate_y = 250
    plate_boxes = []
    size = max(12, H // 22)
    margin = max(8, H // 40)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "20"}
        for i in range(N):
            img = _background(OSD, i, grid, rng)
            rgb, alpha = _overlay(osd_lines(OSD, i / FPS), size)
            h, w = alpha.shape[:2]
            region = img[margin : margin + h, margin : margin + w]
            region[:] = region * (1 - alpha) + rgb * alpha
            img[py : py + paper_arr.shape[0], px : px + paper_arr.shape[1]] = paper_arr
            x = _plate_x(i)
            img[plate_y : plate_y + plate_arr.shape[0], x : x + plate_arr.shape[1]] = plate_arr
            plate_boxes.append((x + pb[0], plate_y + pb[1], x + pb[2], plate_y + pb[3]))
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return TextClip(path, plate_boxes, doc_boxes)


@pytest.fixture(scope="module")
def text_clip(tmp_path_factory) -> TextClip:
    return make_text_clip(tmp_path_factory.mktemp("textredact") / "plate_doc.mp4")


@pytest.fixture(scope="module")
def redacted(text_clip, tmp_path_factory):
    """``footage redact CLIP --out OUT.mp4`` with the defaults (text on, display kept, QA on)."""
    out = tmp_path_factory.mktemp("textredact_out") / "redacted.mp4"
    res = CliRunner().invoke(app, ["redact", str(text_clip.path), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _read_all_text(path: Path, every: int = 5) -> list[str]:
    """Every text line the detector + recogniser find on every ``every``-th frame."""
    from media.text.detect import PPOCRDetector
    from media.text.recognize import PPOCRRecognizer

    det, rec = PPOCRDetector(), PPOCRRecognizer()
    texts = []
    for img in _frames(path)[::every]:
        d = det.detect(img)
        crops = []
        for x1, y1, x2, y2 in d.boxes.astype(int):
            if x2 - x1 > 4 and y2 - y1 > 4:
                crops.append(img[y1:y2, x1:x2])
        texts += [line.text for line in rec.read(crops)]
    return texts


def _norm(text: str) -> str:
    return re.sub(r"[\s·•.:：]", "", text)


def test_planted_text_is_readable_in_the_source(text_clip):
    """The control: the recogniser does read the plate, the document and the display in the source."""
    found = " ".join(_norm(t) for t in _read_all_text(text_clip.path, every=10))
    assert "5H827" in found and "王晓明" in found and "朝阳区" in found
    assert OSD.start.strftime("%H%M%S")[:4] in found.replace(":", "")


def test_every_planted_text_is_masked_and_the_display_kept(text_clip, redacted):
    out, summary = redacted
    assert summary["frames"] == N
    assert summary["text_tracks"] >= 2 and summary["osd_tracks"] >= 1
    assert summary["qa_residuals"] == 0 and summary["qa_text_residuals"] == 0
    # 1. the recogniser finds none of the planted strings in the output
    found = [_norm(t) for t in _read_all_text(out, every=3)]
    leaks = [(s, t) for t in found for s in SECRETS if s in t]
    assert not leaks, leaks
    # 2. the planted regions are flat (a solid mask) on every frame
    frames = _frames(out)
    assert len(frames) == N
    for i, img in enumerate(frames):
        gray = img.astype(np.float32).mean(axis=2)
        for x1, y1, x2, y2 in [text_clip.plate_boxes[i], *text_clip.document_boxes]:
            assert gray[y1:y2, x1:x2].std() < 6, (i, (x1, y1, x2, y2), gray[y1:y2, x1:x2].std())
    # 3. the display is still there and reads: the planted time, to the second
    from media.text.osd import read_osd

    reading = read_osd(out)
    assert reading.found and reading.stamps
    for t, stamp in reading.stamps:
        assert stamp == shown_time(OSD, t)
    assert reading.device == OSD.device and reading.officer == OSD.officer


def test_log_names_what_was_masked(text_clip, redacted):
    out, _ = redacted
    log = json.loads(out.with_suffix(".redaction.json").read_text("utf-8"))
    entries = log["entries"]
    whats = {e["detail"].get("what") for e in entries if e["kind"] == "redaction" and e["detail"].get("kind") == "text"}
    assert "licence plate / 车牌" in whats and "document / 文件" in whats
    kept = [e for e in entries if e["kind"] == "kept_visible" and e["detail"].get("kind") == "osd"]
    assert kept and all(e["detail"]["track"].startswith("T") for e in kept)
    # the log says what, never the text itself
    text = json.dumps(entries, ensure_ascii=False)
    assert not any(s in _norm(text) for s in SECRETS)
    assert log["qa"]["text_checked"] >= 3 and log["qa"]["text_residual_count"] == 0


def _overlaps(box, target) -> bool:
    return box[0] < target[2] and target[0] < box[2] and box[1] < target[3] and target[1] < box[3]


@pytest.mark.slow
def test_no_text_leaves_text_and_qa_finds_it(text_clip, tmp_path):
    """The switch, and the QA pass's own text check on a copy that left the text visible (a
    planted miss): it reports the plate and the document, and nothing on the kept display."""
    from media.redact import find_tracks, qa_pass
    from media.redact.spec import TextConfig

    out = tmp_path / "faces_only.mp4"
    res = CliRunner().invoke(app, ["redact", str(text_clip.path), "--out", str(out), "--no-text", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["text_tracks"] == 0 and doc["qa_text_residuals"] == 0  # text not asked for: not checked
    found = " ".join(_norm(t) for t in _read_all_text(out, every=10))
    assert "5H827" in found
    ts = find_tracks(text_clip.path, text=TextConfig())
    report = qa_pass(out, ts, [], text=TextConfig())
    assert not report.passed and report.text_checked >= 3
    res_boxes = [(r.frame, r.box) for r in report.text_residuals]
    assert any(_overlaps(b, text_clip.plate_boxes[f]) for f, b in res_boxes)
    assert any(_overlaps(b, d) for f, b in res_boxes for d in text_clip.document_boxes)
    assert not any(b[3] < 60 for f, b in res_boxes)  # the display (top lines) is not a residual
    assert {e.kind for e in report.events()} == {"residual_text"}


@pytest.mark.slow
def test_tracks_sheet_and_keep_a_text_track(text_clip, tmp_path):
    """``footage redact tracks`` lists text tracks as T1, T2 ...; --keep T<n> leaves that one visible."""
    runner = CliRunner()
    res = runner.invoke(app, ["redact", "tracks", str(text_clip.path), "--out-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    tracks = json.loads((tmp_path / "plate_doc.tracks.json").read_text("utf-8"))
    assert (tmp_path / "plate_doc.sheet.png").stat().st_size > 1000
    plates = [t for t in tracks["tracks"] if t["kind"] == "text" and t["what"] == "plate"]
    assert len(plates) == 1 and plates[0]["id"] > TEXT_ID_BASE
    assert tracks["osd_boxes"] and any(t["kind"] == "osd" for t in tracks["tracks"])
    label = track_label(plates[0]["id"])
    out = tmp_path / "keep_plate.mp4"
    res = runner.invoke(app, ["redact", str(text_clip.path), "--out", str(out), "--tracks",
                              str(tmp_path / "plate_doc.tracks.json"), "--keep", label, "--json"])
    assert res.exit_code == 0, res.output
    found = " ".join(_norm(t) for t in _read_all_text(out, every=10))
    assert "5H827" in found and "王晓明" not in found


def test_keep_ids_and_guesses():
    assert parse_track_id("T2") == TEXT_ID_BASE + 2 and parse_track_id("7") == 7 and track_label(10003) == "T3"
    assert RedactSpec.model_validate({"keep": [3, "T1"]}).keep == [3, TEXT_ID_BASE + 1]
    assert guess_what("京A·12345") == "plate" and guess_what("粤B 8K3D2") == "plate"
    assert guess_what("姓名：张三") == "document" and guess_what("www.example.com") == "screen"
    assert guess_what("STOP") == "text"


@pytest.mark.slow
def test_mask_osd_masks_the_display_too(text_clip, tmp_path):
    """``--mask-osd``: the camera's display is masked like any text (nothing left to read)."""
    from media.text.osd import read_osd

    out = tmp_path / "no_osd.mp4"
    res = CliRunner().invoke(app, ["redact", str(text_clip.path), "--out", str(out), "--mask-osd", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["osd_tracks"] >= 1 and doc["qa_text_residuals"] == 0
    assert not read_osd(out).stamps
    log = json.loads(out.with_suffix(".redaction.json").read_text("utf-8"))
    assert any(e["kind"] == "redaction" and e["detail"].get("kind") == "osd" for e in log["entries"])
