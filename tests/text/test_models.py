"""The PP-OCRv4 models: found in the rapidocr wheel without OpenCV, and the DB post-processing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from media.redact.detect import FaceDetector
from media.text.detect import PPOCRDetector, TextDetector, db_boxes
from media.text.models import DET_MODEL, REC_MODEL, model_path
from media.text.recognize import PPOCRRecognizer

ROOT = Path(__file__).resolve().parents[2]


def test_models_are_package_data_of_rapidocr():
    for name in (DET_MODEL, REC_MODEL):
        path = model_path(name)
        assert path.is_file() and path.parent.parent.name == "rapidocr_onnxruntime"


def test_gui_opencv_is_kept_out_and_rapidocr_modules_are_never_imported(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from media.text import PPOCRDetector, PPOCRRecognizer\n"
        "PPOCRDetector().detect(np.zeros((64, 64, 3), np.uint8)); PPOCRRecognizer().read([np.zeros((32, 96), np.uint8)])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('cv2', 'rapidocr'))))\n"
        "import cv2\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert out.stdout.strip() == "[]"
    assert "No module named 'cv2'" in out.stderr


def test_recogniser_classes_match_the_model_output():
    rec = PPOCRRecognizer()
    assert rec.classes[0] == "<blank>" and rec.classes[-1] == " " and len(rec.classes) == 6625
    probs = rec._session.run(None, {rec._input: np.zeros((1, 3, 48, 96), np.float32)})[0]
    assert probs.shape[2] == len(rec.classes)


def test_text_detector_has_the_face_detector_interface():
    det = PPOCRDetector()
    assert isinstance(det, TextDetector) and isinstance(det, FaceDetector)
    assert len(det.detect(np.full((96, 128), 127, np.uint8))) == 0  # a flat picture holds no text


def test_db_boxes_grow_a_core_by_the_unclip_distance():
    prob = np.zeros((64, 128), np.float32)
    prob[20:30, 10:90] = 0.9  # a 80 x 10 core
    boxes, scores = db_boxes(prob, dilate=False)
    d = 80 * 10 * 1.6 / (2 * (80 + 10))  # area * ratio / perimeter
    assert boxes.shape == (1, 4) and scores[0] == pytest.approx(0.9)
    assert boxes[0] == pytest.approx([10 - d, 20 - d, 90 + d, 30 + d], abs=1e-4)


def test_db_boxes_drop_faint_and_tiny_regions():
    prob = np.zeros((64, 128), np.float32)
    prob[5:15, 5:60] = 0.35  # above the pixel threshold, mean under box_thresh
    prob[40:42, 40:42] = 0.9  # 2 px: under min_size
    assert len(db_boxes(prob)[0]) == 0
