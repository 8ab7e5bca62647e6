"""Detections become tracks: SORT-like IoU association with a constant-velocity prediction.

Detection may run on every ``k``-th frame only; a track's box on the frames in between (skipped,
or where the detector missed the face) is interpolated between the frames where it was found,
and each track is extended a few frames before its first and after its last detection, so that
a face entering or leaving between two detection frames is still covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from scipy.optimize import linear_sum_assignment

from .detect import Detections, box_iou

__all__ = ["Track", "Tracker", "pad_boxes", "clip_boxes"]


def pad_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """Grow ``x1, y1, x2, y2`` boxes by ``factor`` about their centres.

    Parameters
    ----------
    boxes : (N, 4) ndarray
    factor : float
        1.3 makes each side 30% longer.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=1)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Round boxes outward to whole pixels and clip them to the frame.

    Returns
    -------
    (N, 4) int ndarray
        Usable as ``image[y1:y2, x1:x2]``; empty boxes have ``x2 <= x1`` or ``y2 <= y1``.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out.astype(int)


@dataclass
class Track:
    """One face followed through a clip.

    ``frames``/``boxes``/``scores`` are the detection frames (key frames) of the track; every
    other frame's box comes from :meth:`box_at`.
    """

    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    extend: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    # "face"; "text" (third parties' text) or "osd" (text on the camera's own display)
    kind: str = "face"
    # text tracks: what the recogniser read on the best detection, and the guess made from it
    # ("plate", "document", "screen" or "text"; media/redact/text.py)
    text: str = ""
    what: str = ""
    read_score: float = 0.0  # mean character probability of ``text``

    @property
    def first(self) -> int:
        """First frame masked, extension included."""
        return max(0, self.frames[0] - self.extend)

    @property
    def last(self) -> int:
        """Last frame masked, extension included."""
        return self.frames[-1] + self.extend

    @property
    def hits(self) -> int:
        return len(self.frames)

    @property
    def best(self) -> int:
        """Index (into ``frames``) of the most confident detection."""
        return int(np.argmax(self.scores))

    def predict(self, frame: int) -> np.ndarray:
        """Where the face should be at ``frame``, moving at its current velocity."""
        return self.boxes[-1] + self.velocity * (frame - self.frames[-1])

    def add(self, frame: int, box: np.ndarray, score: float) -> None:
        box = np.asarray(box, np.float64)
        if self.frames:
            step = (box - self.boxes[-1]) / max(1, frame - self.frames[-1])
            # Smoothed like an alpha-beta filter: detections jitter by a few pixels.
            self.velocity = step if len(self.frames) == 1 else 0.6 * step + 0.4 * self.velocity
        self.frames.append(int(frame))
        self.boxes.append(box)
        self.scores.append(float(score))

    def box_at(self, frame: int) -> np.ndarray | None:
        """The face's box at ``frame`` (unpadded), or None outside ``first..last``.

        Between key frames the box is linearly interpolated; in the extension before the first
        and after the last key frame it is the union of the held box and the box extrapolated
        with the velocity at that end, so a face moving in or out stays covered.
        """
        if frame < self.first or frame > self.last:
            return None
        f = self.frames
        b = np.asarray(self.boxes)
        if f[0] <= frame <= f[-1]:
            return np.array([np.interp(frame, f, b[:, i]) for i in range(4)])
        if frame < f[0]:
            edge, v, d = b[0], self._end_velocity(start=True), frame - f[0]
        else:
            edge, v, d = b[-1], self._end_velocity(start=False), frame - f[-1]
        moved = edge + v * d
        return np.concatenate([np.minimum(edge[:2], moved[:2]), np.maximum(edge[2:], moved[2:])])

    def _end_velocity(self, start: bool) -> np.ndarray:
        if len(self.frames) < 2:
            return np.zeros(4)
        i, j = (0, 1) if start else (-2, -1)
        return (self.boxes[j] - self.boxes[i]) / max(1, self.frames[j] - self.frames[i])

    def to_dict(self, fps: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "first_frame": self.first,
            "last_frame": self.last,
            "hits": self.hits,
            "best_score": round(max(self.scores), 4),
            "extend": self.extend,
            "keyframes": [
                [fr, *[round(float(x), 2) for x in bx], round(sc, 4)]
                for fr, bx, sc in zip(self.frames, self.boxes, self.scores)
            ],
        }
        if self.kind != "face":
            d["text"], d["what"], d["read_score"] = self.text, self.what, self.read_score
        if fps:
            d["start"] = round(self.first / fps, 3)
            d["end"] = round((self.last + 1) / fps, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Track":
        t = cls(id=int(d["id"]), extend=int(d.get("extend", 0)), kind=d.get("kind", "face"),
                text=d.get("text", ""), what=d.get("what", ""), read_score=float(d.get("read_score", 0.0)))
        for row in d["keyframes"]:
            t.frames.append(int(row[0]))
            t.boxes.append(np.asarray(row[1:5], np.float64))
            t.scores.append(float(row[5]))
        return t


_NO_MATCH = 1e6


class Tracker:
    """Associates per-frame detections into tracks (SORT without the Kalman covariance).

    Parameters
    ----------
    iou_threshold : float
        Least IoU between a track's predicted box and a detection to join them. Low on purpose:
        small faces seen every few frames move by a good part of their size.
    max_gap : int
        Frames a track may go undetected and still be joined (and interpolated across).
    extend : int
        Frames each track is extended before its first and after its last detection.
    max_speed : float
        Fastest plausible motion, in face sizes per frame, for joining boxes that do not overlap.
    """

    def __init__(self, iou_threshold: float = 0.1, max_gap: int = 25, extend: int = 6, max_speed: float = 0.5,
                 first_id: int = 1, kind: str = "face"):
        self.iou_threshold = iou_threshold
        self.max_speed = max_speed
        self.max_gap = max_gap
        self.extend = extend
        self.tracks: list[Track] = []
        self._next_id = first_id
        self.kind = kind

    def _cost(self, predicted: np.ndarray, gaps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Assignment cost of each (track, detection) pair; ``_NO_MATCH`` where gated out.

        A pair is allowed when the boxes overlap enough (IoU), or when the detection's centre is
        within ``max_speed`` face sizes per elapsed frame of the prediction and the sizes agree:
        a face crossing close to the camera moves more than its own width between two detection
        frames, and a track with a single hit has no velocity yet to predict that.
        """
        iou = box_iou(predicted, boxes)
        size_p = np.sqrt(np.prod(np.clip(predicted[:, 2:] - predicted[:, :2], 1, None), axis=1))
        size_d = np.sqrt(np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1, None), axis=1))
        centre_p = (predicted[:, :2] + predicted[:, 2:]) / 2
        centre_d = (boxes[:, :2] + boxes[:, 2:]) / 2
        dist = np.linalg.norm(centre_p[:, None] - centre_d[None], axis=2) / size_p[:, None]
        reach = self.max_speed * gaps[:, None]
        ratio = size_d[None, :] / size_p[:, None]
        near = (dist <= reach) & (ratio > 0.6) & (ratio < 1.67)
        allowed = (iou >= self.iou_threshold) | near
        cost = dist / np.maximum(reach, 1e-9) - iou
        return np.where(allowed, cost, _NO_MATCH)

    def update(self, frame: int, detections: Detections) -> list[tuple[int, int]]:
        """Add one frame's detections.

        Returns
        -------
        list of (detection index, track id)
        """
        live = [t for t in self.tracks if frame - t.frames[-1] <= self.max_gap]
        pairs: list[tuple[int, int]] = []
        unmatched = set(range(len(detections)))
        if live and len(detections):
            predicted = np.stack([t.predict(frame) for t in live])
            gaps = np.array([frame - t.frames[-1] for t in live], np.float64)
            cost = self._cost(predicted, gaps, detections.boxes)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _NO_MATCH:
                    live[r].add(frame, detections.boxes[c], detections.scores[c])
                    pairs.append((int(c), live[r].id))
                    unmatched.discard(int(c))
        for c in sorted(unmatched):
            t = Track(id=self._next_id, extend=self.extend, kind=self.kind)
            self._next_id += 1
            t.add(frame, detections.boxes[c], detections.scores[c])
            self.tracks.append(t)
            pairs.append((c, t.id))
        return pairs


class TrackIndex:
    """Fast per-frame lookup of the tracks covering a frame, for rendering and QA."""

    def __init__(self, tracks: Iterable[Track]):
        self.tracks = sorted(tracks, key=lambda t: t.first)

    def boxes_at(self, frame: int, ids: set[int] | None = None, exclude: set[int] | None = None):
        """(track ids, (N, 4) boxes) of the tracks present at ``frame``."""
        out_ids, out_boxes = [], []
        for t in self.tracks:
            if t.first > frame:
                break
            if ids is not None and t.id not in ids:
                continue
            if exclude is not None and t.id in exclude:
                continue
            box = t.box_at(frame)
            if box is not None:
                out_ids.append(t.id)
                out_boxes.append(box)
        return out_ids, (np.asarray(out_boxes).reshape(-1, 4))
