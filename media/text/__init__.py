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

from __future__ import annotations

from media.lazy import lazy_exports

# Names are imported on first use (media.lazy), so that importing media.text.settings (as
# media.gaps.settings does) loads neither the models' code nor media.redact.
_EXPORTS = {
    "osd_events": "checks", "osd_gap_seconds": "checks", "osd_start": "checks", "session_osd_gaps": "checks",
    "time_jumps": "checks", "PPOCRDetector": "detect", "TextDetector": "detect", "OsdReader": "osd",
    "OsdReading": "osd", "OsdRegion": "osd", "OsdSample": "osd", "read_osd": "osd", "read_osd_frames": "osd",
    "OsdFields": "parse", "parse_osd": "parse", "PPOCRRecognizer": "recognize", "TextLine": "recognize",
    "OsdSettings": "settings",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


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
    "session_osd_gaps",
    "read_osd",
    "read_osd_frames",
    "time_jumps",
]
