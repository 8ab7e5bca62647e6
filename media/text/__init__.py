"""Text in the picture: the camera's burned-in display (OSD) and, later, third parties' text.

PaddleOCR's PP-OCRv4 text detector and recogniser, as ONNX files shipped in the PyPI wheel
``rapidocr-onnxruntime`` (Apache-2.0), run on onnxruntime (:mod:`media.text.models`); nothing is
downloaded at run time and OpenCV is not used.

- :mod:`media.text.detect`: :class:`PPOCRDetector`, text boxes behind the face detectors'
  interface (``detect(image) -> Detections``).
- :mod:`media.text.recognize`: :class:`PPOCRRecognizer`, text line crops -> text (greedy CTC).
- :mod:`media.text.parse`: date/time, device and officer numbers in a display's text.
- :mod:`media.text.osd`: :func:`read_osd` / :class:`OsdReader`: find the display once per file,
  then read only its lines at ``sample_rate`` (1/s); can be fed by an existing decode pass.
- :mod:`media.text.checks`: ``osd_time_jump``, ``osd_clock_offset``, ``osd_id_mismatch``,
  ``osd_unreadable`` events (:func:`osd_events`) and the gap between files on the cameras' clocks.
- :class:`OsdSettings`: every threshold (``[gaps.osd]`` in ``footage.toml``).
- :mod:`media.text.synth`: clips with a drawn display, for tests and benchmarks.
"""

from media.text.checks import osd_events, osd_gap_seconds, osd_start, time_jumps
from media.text.detect import PPOCRDetector, TextDetector
from media.text.osd import OsdReader, OsdReading, OsdRegion, OsdSample, read_osd, read_osd_frames
from media.text.parse import OsdFields, parse_osd
from media.text.recognize import PPOCRRecognizer, TextLine
from media.text.settings import OsdSettings

__all__ = [
    "OsdFields",
    "OsdReader",
    "OsdReading",
    "OsdRegion",
    "OsdSample",
    "OsdSettings",
    "PPOCRDetector",
    "PPOCRRecognizer",
    "TextDetector",
    "TextLine",
    "osd_events",
    "osd_gap_seconds",
    "osd_start",
    "parse_osd",
    "read_osd",
    "read_osd_frames",
    "time_jumps",
]
