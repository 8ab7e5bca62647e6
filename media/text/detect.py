"""Text detection: PP-OCRv4's DB (Differentiable Binarization) network on onnxruntime.

The network gives a text probability map at the input's size. As PaddleOCR's
``DBPostProcess`` does, we threshold it (0.3), dilate by 2x2, take connected regions, keep those
whose mean probability reaches ``box_thresh`` (0.5), and grow each box by the DB "unclip"
distance ``area * unclip_ratio / perimeter`` (1.6), because the network is trained to mark a
shrunk core of each text line. PaddleOCR fits rotated rectangles with OpenCV and offsets
polygons with pyclipper; we keep axis-aligned boxes from ``scipy.ndimage`` (for a rectangle the
pyclipper offset is the same distance on every side), which is what masking and the
burned-in display need and keeps OpenCV out.

:class:`PPOCRDetector` offers the same interface as the face detectors
(:class:`media.redact.detect.FaceDetector`: ``name`` and ``detect(image) -> Detections``), so
text boxes can be tracked and masked with the same code as faces.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from media.redact.detect import Detections
from media.text.models import DET_MODEL, default_threads, session
from media.text.models import model_path as find_model

__all__ = ["TextDetector", "PPOCRDetector", "db_boxes", "unclip", "to_gray", "det_input", "normalise_contrast"]


@runtime_checkable
class TextDetector(Protocol):
    """What a text detector offers: a name and ``detect(image) -> Detections``.

    ``image`` is an (H, W, 3) uint8 RGB or an (H, W) uint8 grey array; boxes (``x1, y1, x2, y2``)
    come back in its pixel coordinates. The same protocol as
    :class:`media.redact.detect.FaceDetector`.
    """

    name: str

    def detect(self, image: np.ndarray) -> Detections: ...


def to_gray(image: np.ndarray) -> np.ndarray:
    """An (H, W) uint8 picture: grey as is, RGB by its ITU-R BT.601 luma."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    rgb = image[..., :3].astype(np.float32)
    return (rgb @ np.float32([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)


def normalise_contrast(image: np.ndarray, window: int = 48, target: float = 0.15, floor: float = 0.02,
                       dark: float = 0.45) -> np.ndarray:
    """Local contrast raised where the picture is dark and flat: dark text on a dark ground.

    Around each pixel (a ``window``-pixel box) the luma's local mean ``mu`` and standard deviation
    ``sigma`` are measured; the pixel's difference from ``mu`` is multiplied by
    ``target / max(sigma, floor)`` where that is above 1, fully where ``mu`` is below
    ``dark - 0.15`` and fading to no change at ``dark`` (on a scale of 0..1). Bright or already
    contrasted parts of the picture are left as they are: boosting everywhere cost recall on
    ordinary documents (the paper's grain becomes text-like), boosting the dark parts only found
    the dark versions of plates and documents without losing the bright ones
    (tests/data/textset, benchmarks/bench_text_precision.py).

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 ndarray
    window : int
        Side of the local box, pixels (about a tall text line at the detector's scale).

    Returns
    -------
    ndarray of the same shape, uint8
    """
    from scipy import ndimage  # here, so that importing media.text stays cheap

    image = np.asarray(image)
    h, w = image.shape[:2]
    # local statistics on a picture shrunk by ``step`` (a quarter of the cost of the full picture
    # sixteen times over), brought back to full size bilinearly
    step = 4 if min(h, w) >= 64 else 1
    grey = image if image.ndim == 2 else image[..., :3] @ np.float32([0.299, 0.587, 0.114])
    small = np.asarray(Image.fromarray(np.asarray(grey, np.float32), "F").resize(
        (max(1, w // step), max(1, h // step)), Image.BILINEAR), np.float32) * (1 / 255)
    ws = max(3, int(window // step) | 1)
    mu = ndimage.uniform_filter(small, ws, mode="reflect")
    if mu.min() >= dark:
        return image  # nothing dark: the picture as it is
    var = ndimage.uniform_filter(small * small, ws, mode="reflect") - mu * mu
    sigma = np.sqrt(np.clip(var, 0, None))
    gain = np.maximum(1.0, target / np.maximum(sigma, floor))
    gain = 1 + (gain - 1) * np.clip((dark - mu) / 0.15, 0, 1)

    def full(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a, "F").resize((w, h), Image.BILINEAR), np.float32)

    mu, gain = full(mu), full(gain)
    x = image.astype(np.float32) * (1 / 255)
    if x.ndim == 3:
        mu, gain = mu[..., None], gain[..., None]
    out = mu + (x - mu) * gain
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def input_ratio(side: int, max_side: int, upscale: float = 1.0, upscale_to: int = 640) -> float:
    """Input pixels per picture pixel for a picture whose longer side is ``side``: shrunk to
    ``max_side`` when larger; enlarged toward ``upscale_to`` (at most ``upscale`` times) when smaller
    than that; else as it is."""
    if side >= upscale_to or upscale <= 1:
        return min(1.0, max_side / side)
    return min(float(upscale), upscale_to / side, max_side / side)


def det_input(image: np.ndarray, max_side: int, contrast: bool = False, upscale: float = 1.0,
              upscale_to: int = 640, ratio: float | None = None) -> tuple[np.ndarray, float, float]:
    """The network input for ``image``: resized by :func:`input_ratio` (or by ``ratio`` when
    given, still at most ``max_side`` on the longer side), sides rounded to multiples of 32,
    normalised to [-1, 1] (PaddleOCR's mean 0.5, std 0.5); with ``contrast``, the resized picture
    goes through :func:`normalise_contrast` first.

    Returns
    -------
    blob : (1, 3, h, w) float32 ndarray
    sx, sy : float
        Image pixels per input pixel, horizontally and vertically.
    """
    image = np.asarray(image)
    h, w = image.shape[:2]
    if ratio is None:
        ratio = input_ratio(max(h, w), max_side, upscale, upscale_to)
    ratio = min(ratio, max_side / max(h, w))
    rh, rw = max(32, int(round(h * ratio / 32)) * 32), max(32, int(round(w * ratio / 32)) * 32)
    mode = "L" if image.ndim == 2 else "RGB"
    pil = Image.fromarray(image if image.ndim == 2 else image[..., :3], mode)
    small = np.asarray(pil.resize((rw, rh), Image.BILINEAR))
    if contrast:
        small = normalise_contrast(small, window=max(9, max(rw, rh) // 20))
    small = small.astype(np.float32) * (2 / 255) - 1
    if small.ndim == 2:
        blob = np.broadcast_to(small, (1, 3, rh, rw)).copy()
    else:
        blob = small.transpose(2, 0, 1)[None].copy()
    return blob, w / rw, h / rh


def unclip(box: np.ndarray, ratio: float) -> np.ndarray:
    """Grow an ``x1, y1, x2, y2`` box by DB's unclip distance ``area * ratio / perimeter``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    d = w * h * ratio / max(2 * (w + h), 1e-9)
    return np.array([x1 - d, y1 - d, x2 + d, y2 + d], np.float32)


def db_boxes(
    prob: np.ndarray,
    thresh: float = 0.3,
    box_thresh: float = 0.5,
    unclip_ratio: float = 1.6,
    min_size: float = 3.0,
    max_candidates: int = 1000,
    dilate: bool = True,
    region_score: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of text lines from a DB probability map, in map pixels.

    Parameters
    ----------
    prob : (h, w) float ndarray
        Text probability per pixel.
    thresh : float
        Probability that marks a text pixel.
    box_thresh : float
        Least mean probability of a kept region (PaddleOCR's "fast" score, over its box).
    unclip_ratio : float
        How far each box grows (see :func:`unclip`).
    min_size : float
        Boxes with a side under this (before growing; under ``min_size + 2`` after) are dropped.
    max_candidates : int
        At most this many regions are scored.
    dilate : bool
        Dilate the text mask by 2x2 first (PaddleOCR's ``use_dilation``).
    region_score : bool
        Score a region by its mean probability over its own pixels instead of over its
        axis-aligned box. PaddleOCR scores over the region's rotated rectangle (or polygon);
        over the axis-aligned box a slanted line (a plate seen from the side) is mostly background
        and falls under ``box_thresh``: the large slanted plates of tests/data/textset were lost so.

    Returns
    -------
    boxes : (N, 4) float32 ndarray
        ``x1, y1, x2, y2``, clipped to the map.
    scores : (N,) float32 ndarray
    """
    from scipy import ndimage  # here, so that importing media.text stays cheap

    mask = prob > thresh
    if dilate:
        grown = mask.copy()
        grown[1:, :] |= mask[:-1, :]
        grown[:, 1:] |= mask[:, :-1]
        grown[1:, 1:] |= mask[:-1, :-1]
        mask = grown
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    h, w = prob.shape
    boxes, scores = [], []
    for k, sl in enumerate(ndimage.find_objects(labels)[:max_candidates], start=1):
        if sl is None:
            continue
        ys, xs = sl
        if min(ys.stop - ys.start, xs.stop - xs.start) < min_size:
            continue
        score = float(prob[sl][labels[sl] == k].mean() if region_score else prob[sl].mean())
        if score < box_thresh:
            continue
        box = unclip(np.array([xs.start, ys.start, xs.stop, ys.stop]), unclip_ratio)
        if min(box[2] - box[0], box[3] - box[1]) < min_size + 2:
            continue
        boxes.append(np.clip(box, 0, [w, h, w, h]))
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    return np.asarray(boxes, np.float32), np.asarray(scores, np.float32)


class PPOCRDetector:
    """PP-OCRv4 text detector (DB) on onnxruntime.

    Parameters
    ----------
    max_side : int
        The picture is shrunk so its longer side is at most this before detection (never
        enlarged). 960 finds 12 px text in a 1080p picture; the OSD search uses less.
    thresh, box_thresh, unclip_ratio : float
        DB post-processing, PaddleOCR's defaults (see :func:`db_boxes`).
    model_path : path, optional
        ONNX file; defaults to the one shipped in ``rapidocr-onnxruntime``.
    threads : int, optional
        onnxruntime intra-op threads; default ``FOOTAGE_ORT_THREADS`` or all cores.
    contrast : bool
        Detect on the picture with its dark, flat parts' contrast raised
        (:func:`normalise_contrast`): dark text on a dark ground.
    upscale, upscale_to : float, int
        A picture whose longer side is under ``upscale_to`` is enlarged toward it, at most
        ``upscale`` times (1: never; :func:`input_ratio`).
    region_score : bool
        Score each region over its own pixels (see :func:`db_boxes`).
    """

    name = "ppocr-v4-det"

    def __init__(
        self,
        max_side: int = 960,
        thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip_ratio: float = 1.6,
        model_path: str | os.PathLike | None = None,
        threads: int | None = None,
        contrast: bool = False,
        upscale: float = 1.0,
        region_score: bool = False,
        upscale_to: int = 640,
    ):
        self.max_side = int(max_side)
        self.contrast = bool(contrast)
        self.upscale, self.region_score, self.upscale_to = float(upscale), bool(region_score), int(upscale_to)
        self.thresh, self.box_thresh, self.unclip_ratio = float(thresh), float(box_thresh), float(unclip_ratio)
        self.model_path = str(model_path or find_model(DET_MODEL))
        self._session = session(self.model_path, default_threads() if threads is None else threads)
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return f"PPOCRDetector(max_side={self.max_side}, box_thresh={self.box_thresh}, contrast={self.contrast})"

    def ratio_for(self, width: int, height: int) -> float:
        """Input pixels per picture pixel for a whole picture of this size (:func:`input_ratio`)."""
        return input_ratio(max(width, height), self.max_side, self.upscale, self.upscale_to)

    def probability(self, image: np.ndarray, ratio: float | None = None) -> tuple[np.ndarray, float, float]:
        """The network's text probability map for ``image`` and its scale (see :func:`det_input`);
        ``ratio``: a fixed scale (a crop looked at as its whole picture is)."""
        blob, sx, sy = det_input(image, self.max_side, self.contrast, self.upscale, self.upscale_to, ratio)
        prob = self._session.run(None, {self._input: blob})[0][0, 0]
        return prob, sx, sy

    def detect(self, image: np.ndarray, ratio: float | None = None) -> Detections:
        """Text line boxes in ``image`` (RGB or grey), in its pixel coordinates; ``ratio``: see
        :meth:`probability`."""
        prob, sx, sy = self.probability(image, ratio)
        boxes, scores = db_boxes(prob, self.thresh, self.box_thresh, self.unclip_ratio,
                                 region_score=self.region_score)
        if len(boxes):
            h, w = np.asarray(image).shape[:2]
            boxes = np.clip(boxes * np.float32([sx, sy, sx, sy]), 0, [w, h, w, h]).astype(np.float32)
        return Detections(boxes, scores)
