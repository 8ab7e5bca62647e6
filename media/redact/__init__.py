"""Face and voice redaction for a party's copy of a record (Article 31).

Pipeline: :func:`find_tracks` (CenterFace every k-th frame + SORT-like tracking) ->
:func:`contact_sheet` for the archivist's keep-list -> :func:`render` (streaming H.264/AAC
copy, solid or mosaic masks, audio mute/bleep) -> :func:`qa_pass` (independent residual check)
-> :func:`redaction_log` -> :func:`watermark_video` when released. Third parties' text (plates,
documents, screens) is tracked and masked the same way, the camera's display kept
(:mod:`media.redact.text`).
"""

from .detect import CenterFace, Detections, FaceDetector, centerface_model_path
from .log import redaction_log, write_log
from .masks import apply_masks, mosaic, solid_fill
from .qa import QAConfig, QAReport, qa_pass
from .render import RenderResult, TrackSet, find_tracks, probe_video, render, sha256_file
from .sheet import contact_sheet, watermark_overlay, watermark_text, watermark_video
from .spec import LEGAL_BASES, TEXT_ID_BASE, AudioRange, DetectionConfig, ManualMask, RedactSpec, TextConfig, load_spec, track_label
from .track import Track, Tracker, pad_boxes

__all__ = [
    "AudioRange", "CenterFace", "Detections", "DetectionConfig", "FaceDetector", "LEGAL_BASES",
    "ManualMask", "TEXT_ID_BASE", "TextConfig", "track_label", "QAConfig", "QAReport", "RedactSpec", "RenderResult", "Track", "TrackSet", "Tracker",
    "apply_masks", "centerface_model_path", "contact_sheet", "find_tracks", "load_spec", "mosaic",
    "pad_boxes", "probe_video", "qa_pass", "redaction_log", "render", "sha256_file", "solid_fill",
    "watermark_overlay", "watermark_text", "watermark_video", "write_log",
]
