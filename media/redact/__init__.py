"""Face and voice redaction for a party's copy of a record (Article 31).

Pipeline: :func:`find_tracks` (CenterFace every k-th frame + SORT-like tracking) ->
:func:`contact_sheet` for the archivist's keep-list -> :func:`render` (streaming H.264/AAC
copy, solid or mosaic masks, audio mute/bleep) -> :func:`qa_pass` (independent residual check)
-> :func:`redaction_log` -> :func:`watermark_video` when released. Third parties' text (plates,
documents, screens) is tracked and masked the same way, the camera's display kept
(:mod:`media.redact.text`).
"""

# Names load on first use (PEP 562): a caller that needs one submodule (the text detectors use
# ``media.redact.detect``) does not pay for the tracker's scipy and the renderer at import.
_WHERE = {
    "CenterFace": "detect",
    "Detections": "detect",
    "FaceDetector": "detect",
    "centerface_model_path": "detect",
    "redaction_log": "log",
    "write_log": "log",
    "apply_masks": "masks",
    "mosaic": "masks",
    "solid_fill": "masks",
    "QAConfig": "qa",
    "QAReport": "qa",
    "qa_pass": "qa",
    "RenderResult": "render",
    "TrackSet": "render",
    "find_tracks": "render",
    "probe_video": "render",
    "render": "render",
    "sha256_file": "render",
    "contact_sheet": "sheet",
    "watermark_overlay": "sheet",
    "watermark_text": "sheet",
    "watermark_video": "sheet",
    "LEGAL_BASES": "spec",
    "TEXT_ID_BASE": "spec",
    "AudioRange": "spec",
    "DetectionConfig": "spec",
    "ManualMask": "spec",
    "RedactSpec": "spec",
    "TextConfig": "spec",
    "load_spec": "spec",
    "track_label": "spec",
    "Track": "track",
    "Tracker": "track",
    "pad_boxes": "track",
}


def __getattr__(name: str):
    if name in _WHERE:
        from importlib import import_module

        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AudioRange", "CenterFace", "Detections", "DetectionConfig", "FaceDetector", "LEGAL_BASES",
    "ManualMask", "TEXT_ID_BASE", "TextConfig", "track_label", "QAConfig", "QAReport", "RedactSpec", "RenderResult", "Track", "TrackSet", "Tracker",
    "apply_masks", "centerface_model_path", "contact_sheet", "find_tracks", "load_spec", "mosaic",
    "pad_boxes", "probe_video", "qa_pass", "redaction_log", "render", "sha256_file", "solid_fill",
    "watermark_overlay", "watermark_text", "watermark_video", "write_log",
]
