"""QA: an independent second look at a rendered copy for faces left visible.

The QA pass decodes the *output* and detects on every frame with a configuration different from
the main pass (by default 2x upscaled input for clips up to 1280 px wide, a different
threshold, no tracking, no interpolation), so that what the main pass's shortcuts (every k-th
frame, tracking) missed shows up. A face counts as residual unless it lies on a track that the
archivist chose to keep visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from pydantic import BaseModel, Field

from media.model import Event

from .detect import CenterFace, FaceDetector
from .render import Progress, TrackSet, detect_frame, probe_video
from .track import TrackIndex, pad_boxes

__all__ = ["QAConfig", "QAReport", "qa_pass", "masked_fraction"]


class QAConfig(BaseModel):
    """How the QA pass looks.

    ``scale`` None picks 2x for frames whose longer side is at most ``upscale_max_side`` and 1x
    above (a 2x 1080p frame costs ~5x a native one on CPU: ~2 s).
    """

    threshold: float = 0.5
    scale: float | None = None
    upscale_max_side: int = 1280
    every: int = Field(1, ge=1)
    keep_pad: float = 1.8  # a detection centred in a kept track's box so grown is the kept face
    # The edge of a solid mask under a fringe of hair looks like a face to CenterFace; a box
    # mostly filled with the mask colour shows too little of anything to be a visible face.
    mask_color: tuple[int, int, int] | None = (0, 0, 0)
    max_masked: float = 0.6
    # A face left visible stays visible: a residual counts when a detection at the same place
    # shows in at least this many consecutive checked frames. Single-frame blips at the
    # threshold (a mask's edge with hair, measured at score 0.506) are listed as isolated.
    min_persist: int = Field(2, ge=1)

    def scale_for(self, width: int, height: int) -> float:
        if self.scale is not None:
            return self.scale
        return 2.0 if max(width, height) <= self.upscale_max_side else 1.0


@dataclass
class Residual:
    frame: int
    time: float
    box: tuple[float, float, float, float]
    score: float


@dataclass
class QAReport:
    """Residual faces found in an output, outside the keep-list."""

    path: str
    frames: int
    checked: int
    config: QAConfig
    residuals: list[Residual] = field(default_factory=list)
    isolated: list[Residual] = field(default_factory=list)  # seen in fewer than min_persist frames
    kept_seen: int = 0  # detections explained by kept tracks
    masked_seen: int = 0  # detections on a mask's edge (mostly mask colour)

    @property
    def passed(self) -> bool:
        return not self.residuals

    @property
    def residual_frames(self) -> list[int]:
        return sorted({r.frame for r in self.residuals})

    def events(self) -> list[Event]:
        """Residuals as findings in the domain model (kind ``residual_face``)."""
        return [
            Event(kind="residual_face", file=Path(self.path).name, start=r.time, end=r.time,
                  detail={"frame": r.frame, "box": [round(v, 1) for v in r.box], "score": round(r.score, 3)})
            for r in self.residuals
        ]

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "frames": self.frames,
            "checked": self.checked,
            "passed": self.passed,
            "residual_count": len(self.residuals),
            "residual_frames": self.residual_frames,
            "kept_seen": self.kept_seen,
            "masked_seen": self.masked_seen,
            "config": self.config.model_dump(),
            "residuals": [r.__dict__ for r in self.residuals],
            "isolated": [r.__dict__ for r in self.isolated],
        }


def masked_fraction(image: np.ndarray, box, color, tolerance: int = 16) -> float:
    """Fraction of the pixels of ``box`` within ``tolerance`` of ``color`` in every channel."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    region = image[y1:y2, x1:x2].astype(np.int16)
    if region.size == 0:
        return 1.0
    return float((np.abs(region - np.asarray(color, np.int16)).max(axis=2) <= tolerance).mean())


def qa_pass(
    path: str | Path,
    tracks: TrackSet | None = None,
    keep: list[int] | None = None,
    config: QAConfig | None = None,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
) -> QAReport:
    """Detect faces on every frame of a rendered copy and report those outside the keep-list.

    Parameters
    ----------
    path : path
        The rendered output.
    tracks : TrackSet, optional
        The tracks the render used; needed only to recognise kept faces.
    keep : list of int, optional
        Track ids left visible on purpose.
    """
    config = config or QAConfig()
    info = probe_video(path)
    scale = config.scale_for(info["width"], info["height"])
    detector = detector or CenterFace(threshold=config.threshold)
    kept = TrackIndex(t for t in (tracks.tracks if tracks else []) if t.id in set(keep or []))
    report = QAReport(path=str(path), frames=0, checked=0, config=config.model_copy(update={"scale": scale}))
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(c.decode(stream)):
            report.frames = i + 1
            if i % config.every == 0:
                report.checked += 1
                dets, _ = detect_frame(detector, frame, scale)
                _, kept_boxes = kept.boxes_at(i)
                zones = pad_boxes(kept_boxes, config.keep_pad)
                t = float(frame.time) if frame.time is not None else i / info["fps"]
                img = None
                for box, score in zip(dets.boxes, dets.scores):
                    if config.mask_color is not None:
                        img = frame.to_ndarray(format="rgb24") if img is None else img
                        if masked_fraction(img, box, config.mask_color) >= config.max_masked:
                            report.masked_seen += 1
                            continue
                    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                    inside = (zones[:, 0] <= cx) & (cx <= zones[:, 2]) & (zones[:, 1] <= cy) & (cy <= zones[:, 3])
                    if inside.any():
                        report.kept_seen += 1
                    else:
                        report.residuals.append(Residual(i, round(t, 3), tuple(float(v) for v in box), float(score)))
            if progress:
                progress("qa", i + 1, info["frames"])
    report.residuals, report.isolated = split_persistent(report.residuals, config.every, config.min_persist)
    return report


def _centre_in(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def split_persistent(found: list[Residual], every: int, min_persist: int) -> tuple[list[Residual], list[Residual]]:
    """Residuals seen at the same place in ``min_persist`` consecutive checked frames, and the rest."""
    if min_persist <= 1:
        return list(found), []
    by_frame: dict[int, list[Residual]] = {}
    for r in found:
        by_frame.setdefault(r.frame, []).append(r)

    def run_length(r: Residual, step: int) -> int:
        n, cur = 0, r
        while True:
            nxt = next((o for o in by_frame.get(cur.frame + step, []) if _centre_in(o.box, cur.box) or _centre_in(cur.box, o.box)), None)
            if nxt is None:
                return n
            n, cur = n + 1, nxt

    persistent, isolated = [], []
    for r in found:
        (persistent if 1 + run_length(r, every) + run_length(r, -every) >= min_persist else isolated).append(r)
    return persistent, isolated
