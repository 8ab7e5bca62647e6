"""QA: an independent second look at a rendered copy for faces left visible.

The QA pass decodes the *output* and runs its own detections (a higher threshold than the main
pass, its own frames and scale, no tracking, no interpolation), so that what the main pass's
shortcuts (every k-th frame, tracking, interpolation, extension) missed shows up. A face counts as
residual unless it lies on a track that the archivist chose to keep visible.

Cost (issue 15): the pass must cost at most half the render at every size. It looks at full frames
only every few frames, at the scale the frame size calls for (upscaled only below ``target_side``,
with a cadence stretched by the upscale's cost), between the main pass's key frames; at the points
where a render's masks are weakest (just before and after each masked track, midway between key
frames of fast masks) it looks at small crops; around any candidate it looks at every frame, to
judge persistence. ``QAConfig.legacy()`` is the pass as it was (every frame, 2x up to 1280 px).
The measurement behind the defaults is in docs/redaction-qa.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from pydantic import BaseModel, Field

from media.model import Event

from .detect import CenterFace, Detections, FaceDetector
from .render import Progress, TrackSet, detect_frame, probe_video
from .spec import TextConfig
from .threads import set_decoder_threads
from .track import Track, TrackIndex, clip_boxes, pad_boxes

__all__ = ["QAConfig", "QAReport", "qa_pass", "masked_fraction"]


class QAConfig(BaseModel):
    """How the QA pass looks.

    Two kinds of check, both on the decoded *output* and neither reusing a detection of the render:

    * full frames on every ``every``-th frame (from ``phase``), upscaled until the longer side
      reaches ``target_side`` (at most ``max_upscale``, never down): a 640x360 frame is looked at
      1.5x, 720x1280 and 1080p at 1x. ``scale`` fixes the factor instead. When a full frame shows a
      candidate face, the ``densify`` frames on each side of it are checked in full as well, so
      that a residual is judged on consecutive frames.
    * crops around each masked track where a render's mask is weakest (``edges``): the
      ``edge_checks`` frames before a track's first and after its last masked frame (a face seen
      before it was detected, or after it was lost), and frames where a mask moves faster than
      ``fast`` of its size per frame (interpolation between key frames), at the full frames'
      scale. A candidate in a crop is not a residual by itself (on a 64-px crop CenterFace scored
      the crest of a coat of arms in the 1080p crowd clip 0.51-0.53, where no full frame ever
      shows a face): it
      makes that frame and its neighbours be checked in full.

    The legacy pass (every frame in full, 2x up to 1280 px) is ``QAConfig.legacy()``.
    """

    threshold: float = 0.5
    scale: float | None = None
    target_side: int = 960
    max_upscale: float = 2.0
    upscale_max_side: int | None = None  # legacy rule: 2x at most this longer side, else 1x
    every: int = Field(8, ge=1)  # full-frame cadence at 1x
    # An upscaled frame costs scale**2 as much: the cadence stretches to match, so the detector's
    # work per frame of video stays that of one 1x frame in ``every``.
    adapt_every: bool = True
    phase: int = Field(1, ge=0)  # the render detects frames 0, k, 2k...: look between them
    densify: int = Field(2, ge=0)  # frames each side of a candidate then checked in full
    edges: bool = True
    crop_pad: float = 2.5  # crop = the mask's box grown this much about its centre
    edge_checks: int = Field(1, ge=0)  # crops before a track's first / after its last frame
    fast: float = 0.08
    keep_pad: float = 1.8  # a detection centred in a kept track's box so grown is the kept face
    # The edge of a solid mask under a fringe of hair looks like a face to CenterFace; a box
    # mostly filled with the mask colour shows too little of anything to be a visible face.
    mask_color: tuple[int, int, int] | None = (0, 0, 0)
    max_masked: float = 0.6
    # A face left visible stays visible: a residual counts when a detection at the same place
    # shows in at least this many checked frames, each within ``densify`` frames of the next.
    min_persist: int = Field(2, ge=1)
    # ... except that a detection seen once and *not touching a mask* still counts: only a blip on
    # a mask's edge (a mask's border with hair, measured at score 0.506) is dismissed as such.
    # False restores the older rule (every one-frame detection dismissed).
    blip_needs_mask: bool = True

    @classmethod
    def legacy(cls, **kw) -> "QAConfig":
        """The QA pass before issue 15: every frame in full, 2x up to 1280 px, blips dismissed."""
        base = dict(every=1, phase=0, densify=0, edges=False, upscale_max_side=1280, blip_needs_mask=False,
                    adapt_every=False)
        return cls(**{**base, **kw})

    def scale_for(self, width: int, height: int) -> float:
        if self.scale is not None:
            return self.scale
        side = max(width, height)
        if self.upscale_max_side is not None:
            return 2.0 if side <= self.upscale_max_side else 1.0
        return float(min(self.max_upscale, max(1.0, self.target_side / side)))

    def every_for(self, scale: float) -> int:
        """Full-frame cadence for frames looked at ``scale`` x."""
        return max(1, int(round(self.every * scale * scale))) if self.adapt_every else self.every


@dataclass
class Residual:
    frame: int
    time: float
    box: tuple[float, float, float, float]
    score: float
    seen: int = 1  # checked frames of its run (the same place, each within ``every`` frames)


@dataclass
class QAReport:
    """Residual faces found in an output, outside the keep-list."""

    path: str
    frames: int
    checked: int
    config: QAConfig
    residuals: list[Residual] = field(default_factory=list)
    # seen in fewer than min_persist frames (and, with blip_needs_mask, touching a mask)
    isolated: list[Residual] = field(default_factory=list)
    crops: int = 0  # crop checks (track ends, fast masks)
    crop_hits: int = 0  # candidates in crops (each then checked in full, with its neighbours)
    kept_seen: int = 0  # detections explained by kept tracks
    masked_seen: int = 0  # detections on a mask's edge (mostly mask colour)
    # Text (when the render masked text): frames checked for text, and text left visible outside
    # the kept tracks and the camera's display.
    text_checked: int = 0
    text_read: int = 0  # candidate text boxes read by the recogniser
    text_unread: int = 0  # ... and not read as text (eyes, hands, folds: not residual text)
    text_residuals: list[Residual] = field(default_factory=list)
    # text seen on one check only and touching a mask (a mask's edge read as text), not counted
    text_isolated: list[Residual] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.residuals and not self.text_residuals

    @property
    def residual_frames(self) -> list[int]:
        return sorted({r.frame for r in self.residuals})

    def events(self) -> list[Event]:
        """Residuals as findings in the domain model (kind ``residual_face``)."""
        return [
            Event(kind="residual_face", file=Path(self.path).name, start=r.time, end=r.time,
                  detail={"frame": r.frame, "box": [round(v, 1) for v in r.box], "score": round(r.score, 3)})
            for r in self.residuals
        ] + [
            Event(kind="residual_text", file=Path(self.path).name, start=r.time, end=r.time,
                  detail={"frame": r.frame, "box": [round(v, 1) for v in r.box], "score": round(r.score, 3)})
            for r in self.text_residuals
        ]

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "frames": self.frames,
            "checked": self.checked,
            "crops": self.crops,
            "crop_hits": self.crop_hits,
            "passed": self.passed,
            "residual_count": len(self.residuals),
            "residual_frames": self.residual_frames,
            "kept_seen": self.kept_seen,
            "masked_seen": self.masked_seen,
            "config": self.config.model_dump(),
            "residuals": [r.__dict__ for r in self.residuals],
            "isolated": [r.__dict__ for r in self.isolated],
            "text_checked": self.text_checked,
            "text_read": self.text_read,
            "text_unread": self.text_unread,
            "text_residual_count": len(self.text_residuals),
            "text_residuals": [r.__dict__ for r in self.text_residuals],
            "text_isolated": [r.__dict__ for r in self.text_isolated],
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


def _intersects(box, boxes: np.ndarray) -> bool:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return bool(((boxes[:, 0] < box[2]) & (box[0] < boxes[:, 2]) & (boxes[:, 1] < box[3]) & (box[1] < boxes[:, 3])).any())


class _Plan:
    """Which crops to look at on which frame: around masked tracks' ends and fast-moving masks."""

    def __init__(self, tracks: list[Track], frames: int, config: QAConfig, width: int, height: int,
                 scale: float = 1.0):
        self.scale = scale
        self.crops: dict[int, list[np.ndarray]] = {}
        if not config.edges:
            return
        step = max(1, config.every // 2)
        for t in tracks:
            # Just outside the masked range: a face seen before its first detection or after
            # its last, beyond the render's extension.
            for k in range(config.edge_checks):
                f = t.first - 1 - k * step
                if f >= 0:
                    self._add(f, t.box_at(t.first), config, width, height)
                f = t.last + 1 + k * step
                if not frames or f < frames:
                    self._add(f, t.box_at(t.last), config, width, height)
            # Fast masks: between key frames the box is interpolated; where it moves fast, the face
            # may leave the straight line, farthest from it midway.
            for a, b, ba, bb in zip(t.frames, t.frames[1:], t.boxes, t.boxes[1:]):
                if b - a < 2:
                    continue
                size = max(1.0, float(np.sqrt(max(1.0, (ba[2] - ba[0]) * (ba[3] - ba[1])))))
                speed = float(np.linalg.norm(((bb[:2] + bb[2:]) - (ba[:2] + ba[2:])) / 2)) / (b - a) / size
                if speed > config.fast:
                    self._add((a + b) // 2, t.box_at((a + b) // 2), config, width, height)

    def _add(self, frame: int, box, config: QAConfig, width: int, height: int) -> None:
        if box is None:
            return
        grown = pad_boxes(box, config.crop_pad)[0]
        cx, cy = (grown[0] + grown[2]) / 2, (grown[1] + grown[3]) / 2
        side = max(grown[2] - grown[0], grown[3] - grown[1], 64.0)
        crop = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        crop = clip_boxes(crop, width, height)[0]
        if crop[2] - crop[0] < 16 or crop[3] - crop[1] < 16:
            return
        self.crops.setdefault(frame, []).append(np.append(crop, self.scale))


def _detect_crop(detector: FaceDetector, image: np.ndarray, crop: np.ndarray) -> Detections:
    """Detect inside ``crop`` (x1, y1, x2, y2, scale) of an RGB frame; boxes in frame pixels."""
    from PIL import Image

    x1, y1, x2, y2 = (int(v) for v in crop[:4])
    scale = float(crop[4])
    part = image[y1:y2, x1:x2]
    if scale != 1.0:
        w, h = max(32, int(round(part.shape[1] * scale))), max(32, int(round(part.shape[0] * scale)))
        part = np.asarray(Image.fromarray(part).resize((w, h), Image.BILINEAR))
    d = detector.detect(part)
    fx, fy = (x2 - x1) / part.shape[1], (y2 - y1) / part.shape[0]
    boxes = d.boxes * np.array([fx, fy, fx, fy], np.float32) + np.array([x1, y1, x1, y1], np.float32)
    return Detections(boxes.astype(np.float32), d.scores)


def qa_pass(
    path: str | Path,
    tracks: TrackSet | None = None,
    keep: list[int] | None = None,
    config: QAConfig | None = None,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
    text: TextConfig | None = None,
    text_detector=None,
) -> QAReport:
    """Look for faces left visible in a rendered copy; report those outside the keep-list.

    Parameters
    ----------
    path : path
        The rendered output.
    tracks : TrackSet, optional
        The tracks the render used: to recognise kept faces, to place the crops at the masks'
        weak points and to tell a one-frame blip on a mask's edge from a face seen once. The
        detections themselves are this pass's own.
    keep : list of int, optional
        Track ids left visible on purpose.
    text : TextConfig, optional
        Also look for text left visible: PP-OCRv4's detector on one full frame every
        ``text.qa_every_seconds`` (its own detections, at frames offset from the render's), text
        outside the kept text tracks and outside the camera's display (unless ``mask_osd``) and
        not mostly mask colour is a residual, reported like a residual face.
    """
    config = config or QAConfig()
    info = probe_video(path)
    width, height = info["width"], info["height"]
    scale = config.scale_for(width, height)
    detector = detector or CenterFace(threshold=config.threshold)
    keep_ids = set(keep or [])
    all_tracks = tracks.tracks if tracks else []
    kept = TrackIndex(t for t in all_tracks if t.id in keep_ids)
    masked = [t for t in all_tracks if t.id not in keep_ids]
    masked_index = TrackIndex(masked)
    mask_pad = tracks.config.pad if tracks else 1.0
    plan = _Plan(masked, info["frames"], config, width, height, scale)
    report = QAReport(path=str(path), frames=0, checked=0,
                      config=config.model_copy(update={"scale": scale, "every": config.every_for(scale),
                                                       "adapt_every": False}))
    every = config.every_for(scale)
    phase = config.phase % every
    found: dict[int, list[Residual]] = {}
    full_done: set[int] = set()
    dense_until = -1
    radius = min(config.densify, every - 1)
    recent: deque = deque(maxlen=max(1, radius))

    def look(i: int, frame: av.VideoFrame, crops=None) -> int:
        """Check frame ``i`` in full (``crops`` None) or inside ``crops``; candidates found."""
        img = frame.to_ndarray(format="rgb24")
        if crops is None:
            report.checked += 1
            full_done.add(i)
            dets = [detect_frame(detector, frame, scale)[0]]
        else:
            report.crops += len(crops)
            dets = [_detect_crop(detector, img, c) for c in crops]
        _, kept_boxes = kept.boxes_at(i)
        zones = pad_boxes(kept_boxes, config.keep_pad)
        t = float(frame.time) if frame.time is not None else i / info["fps"]
        n = 0
        for d in dets:
            for box, score in zip(d.boxes, d.scores):
                if config.mask_color is not None and masked_fraction(img, box, config.mask_color) >= config.max_masked:
                    report.masked_seen += 1
                    continue
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                inside = (zones[:, 0] <= cx) & (cx <= zones[:, 2]) & (zones[:, 1] <= cy) & (cy <= zones[:, 3])
                if inside.any():
                    report.kept_seen += 1
                    continue
                if crops is not None:
                    # A crop only triggers full checks: on a small crop CenterFace sees faces that
                    # no full frame shows (the coat of arms' crest in the crowd clip, 0.53).
                    report.crop_hits += 1
                    n += 1
                    continue
                r = Residual(i, round(t, 3), tuple(float(v) for v in box), float(score))
                same = found.setdefault(i, [])
                if any(_centre_in(o.box, r.box) or _centre_in(r.box, o.box) for o in same):
                    continue  # the same face found again (a crop and the full frame)
                same.append(r)
                n += 1
        return n

    text_on = text is not None and text.enabled and text.qa
    text_found: list[Residual] = []
    if text_on:
        from .text import crop_for_reading, keep_text_box
        from .text import text_detector as make_text_detector
        from .text import text_recognizer

        text_detector = text_detector or make_text_detector(text)
        text_every = max(1, int(round(info["fps"] * text.qa_every_seconds)))
        text_phase = text_every // 2
        kept_text = TrackIndex(t for t in all_tracks if t.kind != "face" and t.id in keep_ids)
        # text the render left on a kept face on purpose (a text mask never covers the party's face)
        kept_faces = TrackIndex(t for t in all_tracks if t.kind == "face" and t.id in keep_ids)
        osd = list(tracks.osd_boxes) if tracks and not text.mask_osd else []
        masked_color = config.mask_color
        reader = []  # the recogniser, made on the first candidate

    def look_text(i: int, frame: av.VideoFrame) -> None:
        """Text boxes left readable on frame ``i``: found by the detector, outside the masks, the kept
        display and the kept text tracks, and read as text by the recogniser (the same test as a
        text track's: a face's eyes or a hand detected as a text line are not residual text)."""
        img = frame.to_ndarray(format="rgb24")
        report.text_checked += 1
        d = text_detector.detect(img)
        _, kept_boxes = kept_text.boxes_at(i)
        _, face_boxes = kept_faces.boxes_at(i)
        t = float(frame.time) if frame.time is not None else i / info["fps"]
        candidates = []
        for box, score in zip(d.boxes, d.scores):
            if min(box[2] - box[0], box[3] - box[1]) < text.min_side:
                continue
            if any(_centre_in(tuple(box), tuple(f)) for f in face_boxes):
                continue  # on a kept face, left visible on purpose
            if masked_color is not None and masked_fraction(img, box, masked_color) >= text.qa_masked:
                continue
            if keep_text_box(box, kept_boxes, osd, text.osd_overlap):
                continue
            candidates.append((box, score))
        if not candidates:
            return
        if not reader:
            reader.append(text_recognizer())
        lines = reader[0].read([crop_for_reading(img, b) for b, _ in candidates])
        report.text_read += len(lines)
        for (box, score), line in zip(candidates, lines):
            if text.reads_as_text(line):
                text_found.append(Residual(i, round(t, 3), tuple(float(v) for v in box), float(score)))
            else:
                report.text_unread += 1

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        set_decoder_threads(stream)
        for i, frame in enumerate(c.decode(stream)):
            report.frames = i + 1
            if text_on and i % text_every == text_phase:
                look_text(i, frame)
            if i % every == phase or i <= dense_until:
                hits = look(i, frame)
            elif i in plan.crops:
                hits = look(i, frame, plan.crops[i])
            else:
                hits = 0
            if hits and (radius > 0 or i not in full_done):
                # A candidate: look at its neighbours in full, so persistence is judged on
                # consecutive frames (the ones before are still at hand).
                for j, f in recent:
                    if j not in full_done and j >= i - radius:
                        look(j, f)
                if i not in full_done:
                    look(i, frame)
                dense_until = max(dense_until, i + radius)
            recent.append((i, frame))
            if progress:
                progress("qa", i + 1, info["frames"])
    # Persistence over neighbouring checks: the densified frames around a candidate (radius), or
    # consecutive checks when nothing is densified.
    window = radius if radius > 0 else every
    persistent, isolated = split_persistent([r for i in sorted(found) for r in found[i]], window, config.min_persist)
    if config.blip_needs_mask:
        # A face seen once still blocks, unless the blip touches a mask drawn on that frame.
        blips = []
        for r in isolated:
            _, boxes = masked_index.boxes_at(r.frame)
            (blips if _intersects(r.box, pad_boxes(boxes, mask_pad)) else persistent).append(r)
        isolated = blips
    report.residuals = sorted(persistent, key=lambda r: (r.frame, r.box))
    report.isolated = isolated
    if text_on and text_found:
        # Text seen on two neighbouring checks at the same place counts; so does text seen once
        # away from every mask. Seen once and touching a mask: the edge of a black box read as
        # text with what is around it (measured on the bikes clip's taxi sign), listed apart.
        lasting, once = split_persistent(text_found, text_every, 2)
        for r in once:
            ids, boxes = masked_index.boxes_at(r.frame)
            pads = [text.pad if tr.kind != "face" else mask_pad for tr in masked_index.tracks if tr.id in ids]
            grown = [pad_boxes(b, p)[0] for b, p in zip(boxes, pads)]
            (report.text_isolated if grown and _intersects(r.box, np.asarray(grown)) else lasting).append(r)
        report.text_residuals = sorted(lasting, key=lambda r: (r.frame, r.box))
    return report


def _centre_in(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def split_persistent(found: list[Residual], every: int, min_persist: int) -> tuple[list[Residual], list[Residual]]:
    """Residuals seen at the same place in ``min_persist`` checked frames, each within ``every``
    frames of the next (with checks on every ``every``-th frame: consecutive checks), and the rest."""
    if min_persist <= 1:
        return list(found), []
    by_frame: dict[int, list[Residual]] = {}
    for r in found:
        by_frame.setdefault(r.frame, []).append(r)

    def run_length(r: Residual, direction: int) -> int:
        n, cur = 0, r
        while True:
            nxt = None
            for d in range(1, every + 1):
                nxt = next((o for o in by_frame.get(cur.frame + direction * d, [])
                            if _centre_in(o.box, cur.box) or _centre_in(cur.box, o.box)), None)
                if nxt is not None:
                    break
            if nxt is None:
                return n
            n, cur = n + 1, nxt

    persistent, isolated = [], []
    for r in found:
        r.seen = 1 + run_length(r, 1) + run_length(r, -1)
        (persistent if r.seen >= min_persist else isolated).append(r)
    return persistent, isolated
