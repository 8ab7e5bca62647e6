"""The text evaluation set (tests/data/textset): real pictures of plates and documents, real faces
without text, and how a text finder's boxes are scored against the hand-drawn ground truth.

Used by tests/text/test_text_precision.py and benchmarks/bench_text_precision.py. The scoring is
plain geometry on the boxes drawn by hand (labels.json); nothing here runs a model.

* A ground-truth line is **found** when the boxes given (grown as the render grows a text mask)
  cover at least ``COVER`` of its area: what a mask must hide.
* A box given is **true** when at least ``INSIDE`` of its area lies on annotated text (any kind,
  each annotation grown by ``SLACK`` about its centre for the hand-drawn edges); every box given
  on a picture without text is false.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "textset"
COVER = 0.8
INSIDE = 0.5
SLACK = 1.3
REQUIRED = ("plate", "document")


@dataclass
class Label:
    kind: str  # "plate", "document" or "text"
    box: tuple[float, float, float, float]
    text: str = ""


@dataclass
class Picture:
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    labels: list[Label] = field(default_factory=list)
    group: str = ""  # "plates", "documents" or "faces"


def _open(name: str) -> np.ndarray:
    """A picture of the set: a file here, or a sample image shipped inside an installed package."""
    if name.startswith("skimage:"):
        import skimage.data

        img = getattr(skimage.data, Path(name.split(":", 1)[1]).stem)()
    elif name.startswith("matplotlib:"):
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data(name.split(":", 1)[1]) as f:
            img = np.asarray(Image.open(f).convert("RGB"))
    else:
        img = np.asarray(Image.open(DATA / name).convert("RGB"))
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def labels() -> dict:
    return json.loads((DATA / "labels.json").read_text("utf-8"))


def pictures() -> list[Picture]:
    """Every picture of the set with its ground truth, in labels.json's order."""
    out = []
    for name, items in labels()["images"].items():
        ls = [Label(d["kind"], tuple(d["box"]), d.get("text", "")) for d in items]
        kinds = {lab.kind for lab in ls}
        group = "plates" if "plate" in kinds else "documents" if "document" in kinds else "faces" if not ls else "other"
        out.append(Picture(name, _open(name), ls, group))
    return out


def low_contrast(image: np.ndarray, level: float = 40.0, span: float = 0.22) -> np.ndarray:
    """The same picture as a dark, flat camera would see it: luminance squeezed into
    ``level .. level + 255 * span`` (dark on dark), then rounded to 8 bits."""
    img = image.astype(np.float32)
    return np.clip(level + img * span, 0, 255).round().astype(np.uint8)


def shared_video() -> Path:
    return Path(os.environ.get("FOOTAGE_SHARED", ROOT.parent / "shared")).resolve() / "footage" / "video"


def clips_without_text() -> list[Path]:
    return [shared_video() / n for n in labels()["clips_without_text"]]


def face_frames(every_seconds: float = 1.0, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """Frames of the shared clips without text (faces, hands, walls), one every ``every_seconds``,
    at most ``limit`` per clip."""
    import av

    out = []
    for path in clips_without_text():
        if not path.is_file():
            continue
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fps = float(s.average_rate or 25)
            step = max(1, int(round(fps * every_seconds)))
            taken = 0
            for i, frame in enumerate(c.decode(s)):
                if i % step == 0:
                    out.append((f"{path.name}#{i}", frame.to_ndarray(format="rgb24")))
                    taken += 1
                    if limit and taken >= limit:
                        break
    return out


def _grow(box, factor: float) -> np.ndarray:
    b = np.asarray(box, np.float64)
    c, h = (b[:2] + b[2:]) / 2, (b[2:] - b[:2]) / 2 * factor
    return np.concatenate([c - h, c + h])


def _raster(boxes, shape, factor: float = 1.0) -> np.ndarray:
    m = np.zeros(shape[:2], bool)
    h, w = shape[:2]
    for b in boxes:
        x1, y1, x2, y2 = _grow(b, factor)
        x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        x2, y2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if x2 > x1 and y2 > y1:
            m[y1:y2, x1:x2] = True
    return m


@dataclass
class Score:
    """Counts over a set of pictures; ``found``/``required`` per kind, ``true``/``boxes`` overall."""

    required: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    boxes: int = 0
    true: int = 0
    false_on_faces: int = 0
    missed: list[str] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float:
        kinds = [kind] if kind else list(self.required)
        req = sum(self.required.get(k, 0) for k in kinds)
        return sum(self.found.get(k, 0) for k in kinds) / req if req else 1.0

    @property
    def precision(self) -> float:
        return self.true / self.boxes if self.boxes else 1.0

    def to_dict(self) -> dict:
        return {"recall_plate": round(self.recall("plate"), 3), "recall_document": round(self.recall("document"), 3),
                "required": self.required, "found": self.found, "boxes": self.boxes, "true_boxes": self.true,
                "precision": round(self.precision, 3), "false_boxes_on_faces": self.false_on_faces,
                "missed": self.missed}


def score(pictures_and_boxes, pad: float = 1.15) -> Score:
    """Score boxes found on each picture: an iterable of (Picture, (N, 4) boxes).

    ``pad``: the boxes are grown by this about their centres first, as the render grows a mask.
    """
    s = Score()
    for pic, boxes in pictures_and_boxes:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        covered = _raster(boxes, pic.image.shape, pad)
        for k, lab in enumerate(pic.labels):
            if lab.kind not in REQUIRED:
                continue
            s.required[lab.kind] = s.required.get(lab.kind, 0) + 1
            m = _raster([lab.box], pic.image.shape)
            if m.any() and covered[m].mean() >= COVER:
                s.found[lab.kind] = s.found.get(lab.kind, 0) + 1
            else:
                s.missed.append(f"{pic.name}[{k}]")
        text = _raster([lab.box for lab in pic.labels], pic.image.shape, SLACK)
        for b in boxes:
            s.boxes += 1
            m = _raster([b], pic.image.shape)
            if m.any() and text[m].mean() >= INSIDE:
                s.true += 1
            elif not pic.labels:
                s.false_on_faces += 1
    return s
