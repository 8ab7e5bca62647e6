"""Text recognition: PP-OCRv4's recogniser (SVTR, CTC head) on onnxruntime.

A text line crop is resized to 48 px high keeping its aspect ratio, normalised to [-1, 1]
(``x / 255 - 0.5) / 0.5``, as PaddleOCR's ``resize_norm_img``), right-padded with zeros to the
widest crop of its batch, and read by greedy CTC decoding: the best class per time step,
repeats merged, blanks dropped. The network emits one time step per 8 input columns, so each
character's time step also tells where it is in the crop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from media.text.models import REC_MODEL, charset, default_threads, session
from media.text.models import model_path as find_model

__all__ = ["TextLine", "PPOCRRecognizer", "ctc_greedy", "rec_input", "HEIGHT", "characters", "reads_as_text"]

#: Input height of PP-OCRv3/v4 recognisers (``rec_img_shape`` 3 x 48 x 320).
HEIGHT = 48


@dataclass
class TextLine:
    """What the recogniser read in one crop.

    Attributes
    ----------
    text : str
    score : float
        Mean probability of the characters read (0 when nothing was read).
    x : list of float
        Horizontal centre of each character, in pixels of the crop.
    """

    text: str
    score: float
    x: list[float] = field(default_factory=list)


def characters(text: str) -> int:
    """Letters, digits and CJK ideographs in ``text``: what counts as having read something.

    Punctuation, spaces and symbols do not count: the stars on a uniform's collar read as
    "★★★" (0.79), eyes and mouths as "", "P", "g", "0" or "99" (at most 0.33 with two characters:
    tests/data/textset and the shared face clips).
    """
    return sum(1 for c in text or "" if c.isalnum())


def reads_as_text(line: "TextLine | None", min_chars: int = 2, min_score: float = 0.6) -> bool:
    """Whether a reading is text: at least ``min_chars`` characters (:func:`characters`) read with
    a mean probability of at least ``min_score``."""
    return line is not None and characters(line.text) >= min_chars and line.score >= min_score


def ctc_greedy(probs: np.ndarray, classes: list[str]) -> list[tuple[str, float, list[int]]]:
    """Greedy CTC decoding of a batch.

    Parameters
    ----------
    probs : (B, T, C) float ndarray
        Class probabilities per time step; class 0 is the blank.
    classes : list of str
        Class index -> character.

    Returns
    -------
    list of (text, mean probability, time step of each character)
    """
    best = probs.argmax(axis=2)
    conf = probs.max(axis=2)
    out = []
    for idx, p in zip(best, conf):
        keep = idx != 0
        keep[1:] &= idx[1:] != idx[:-1]
        steps = np.flatnonzero(keep)
        text = "".join(classes[i] for i in idx[steps])
        out.append((text, float(p[steps].mean()) if steps.size else 0.0, steps.tolist()))
    return out


def rec_input(crops: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """A batch for the recogniser: each crop 48 px high, widths padded to the widest.

    Parameters
    ----------
    crops : list of (h, w) or (h, w, 3) uint8 ndarray

    Returns
    -------
    blob : (B, 3, 48, W) float32 ndarray
    scales : list of float
        Input pixels per crop pixel, for each crop.
    """
    sized, scales = [], []
    for crop in crops:
        crop = np.asarray(crop)
        h, w = crop.shape[:2]
        width = max(8, int(np.ceil(HEIGHT * w / max(h, 1))))
        mode = "L" if crop.ndim == 2 else "RGB"
        img = Image.fromarray(crop if crop.ndim == 2 else crop[..., :3], mode).resize((width, HEIGHT), Image.BILINEAR)
        sized.append(np.asarray(img, np.float32) * (2 / 255) - 1)
        scales.append(width / max(w, 1))
    widest = max(a.shape[1] for a in sized)
    blob = np.zeros((len(sized), 3, HEIGHT, widest), np.float32)
    for i, a in enumerate(sized):
        blob[i, :, :, : a.shape[1]] = a if a.ndim == 2 else a.transpose(2, 0, 1)
    return blob, scales


class PPOCRRecognizer:
    """PP-OCRv4 Chinese/Latin text line recogniser on onnxruntime.

    Parameters
    ----------
    batch : int
        Crops per network run (PaddleOCR's ``rec_batch_num`` is 6); crops are sorted by width
        first so that little padding is read.
    model_path : path, optional
        ONNX file; defaults to the one shipped in ``rapidocr-onnxruntime``.
    threads : int, optional
        onnxruntime intra-op threads; default ``FOOTAGE_ORT_THREADS`` or all cores.
    """

    name = "ppocr-v4-rec"

    def __init__(self, batch: int = 6, model_path: str | os.PathLike | None = None, threads: int | None = None):
        self.batch = max(1, int(batch))
        self.model_path = str(model_path or find_model(REC_MODEL))
        self._session = session(self.model_path, default_threads() if threads is None else threads)
        self._input = self._session.get_inputs()[0].name
        self.classes = charset(self._session)
        self.runs = 0  # network runs so far (for statistics)

    def __repr__(self) -> str:
        return f"PPOCRRecognizer(batch={self.batch})"

    def read(self, crops: list[np.ndarray]) -> list[TextLine]:
        """Read one text line in each crop (RGB or grey uint8).

        Returns
        -------
        list of TextLine
            In the order of ``crops``.
        """
        if not crops:
            return []
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(crops[i].shape[0], 1))
        lines: list[TextLine | None] = [None] * len(crops)
        for start in range(0, len(order), self.batch):
            chunk = order[start : start + self.batch]
            blob, scales = rec_input([crops[i] for i in chunk])
            probs = self._session.run(None, {self._input: blob})[0]
            self.runs += 1
            step = blob.shape[3] / probs.shape[1]  # input columns per time step
            for i, scale, (text, score, steps) in zip(chunk, scales, ctc_greedy(probs, self.classes)):
                lines[i] = TextLine(text, score, [(s + 0.5) * step / scale for s in steps])
        return lines  # type: ignore[return-value]
