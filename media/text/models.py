"""The PP-OCRv4 text models, found as package data of ``rapidocr-onnxruntime`` and run on onnxruntime.

PaddleOCR's PP-OCRv4 Chinese/Latin text detector (DB) and recogniser (SVTR + CTC) come as ONNX
files inside the PyPI wheel ``rapidocr-onnxruntime`` 1.4.4 (Apache-2.0):
``rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx`` and ``ch_PP-OCRv4_rec_infer.onnx``.
The recogniser's character list (6623 characters, one a line) is embedded in that file's
metadata under ``character``. We locate the files with ``importlib.util.find_spec`` (which does
not execute the package) and never import ``rapidocr_onnxruntime``'s modules: they import the
GUI build of OpenCV, which ``pyproject.toml`` keeps out. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from media.onnx import cpu_session

__all__ = ["DET_MODEL", "REC_MODEL", "model_path", "session", "charset"]

PACKAGE = "rapidocr_onnxruntime"
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


def model_path(name: str) -> Path:
    """Where ``rapidocr_onnxruntime/models/<name>`` is installed, without importing the package.

    Parameters
    ----------
    name : str
        File name, :data:`DET_MODEL` or :data:`REC_MODEL`.

    Raises
    ------
    FileNotFoundError
        When the package or the file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the '{PACKAGE}' package (which ships the PP-OCRv4 models) is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{PACKAGE} is installed but models/{name} is missing from it")


def default_threads() -> int:
    """onnxruntime intra-op threads: ``FOOTAGE_ORT_THREADS``, else 0 (all cores)."""
    return int(os.environ.get("FOOTAGE_ORT_THREADS", "0"))


@lru_cache(maxsize=8)
def session(path: str, threads: int = 0):
    """A cached CPU onnxruntime session on ``path``, with spinning threads switched off.

    Parameters
    ----------
    path : str
        ONNX file.
    threads : int
        Intra-op threads; 0 lets onnxruntime use every core.
    """
    import onnxruntime  # here, so that importing media.text stays cheap

    onnxruntime.set_default_logger_severity(3)
    return cpu_session(path, threads)


def charset(rec_session) -> list[str]:
    """The recogniser's classes: CTC blank, the 6623 characters of its metadata, then a space.

    PaddleOCR's ``CTCLabelDecode`` adds the blank at index 0 and the space last
    (``use_space_char``); the model's 6625 outputs match that list.
    """
    meta = rec_session.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ValueError("the recognition model carries no 'character' list in its metadata")
    return ["<blank>", *meta["character"].splitlines(), " "]
