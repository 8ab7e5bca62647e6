"""What to redact: the JSON spec an archivist (or the CLI) gives, and the legal bases to cite.

Example spec::

    {
      "keep": [3],                       # track ids left visible (the requester)
      "style": "solid",                  # or "mosaic"
      "masks": [{"box": [10, 20, 200, 220], "start": 1.0, "end": 4.5,
                 "reason": "licence plate", "basis": "privacy"}],
      "audio": [{"start": 2.0, "end": 3.0, "mode": "bleep", "basis": "third-party"}],
      "text": {"enabled": true, "mask_osd": false}  # third parties' text masked, camera display kept
    }

``keep`` also takes text tracks as the contact sheet shows them: ``[3, "T2"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

__all__ = ["LEGAL_BASES", "ManualMask", "AudioRange", "DetectionConfig", "TextConfig", "RedactSpec", "load_spec",
           "TEXT_ID_BASE", "track_label", "parse_track_id"]

#: Text tracks are numbered from here (T1 = 10001), so one keep-list holds faces and text.
TEXT_ID_BASE = 10000


def track_label(track_id: int) -> str:
    """``"3"`` for a face track, ``"T2"`` for text track 10002 (as the contact sheet shows it)."""
    return f"T{track_id - TEXT_ID_BASE}" if track_id > TEXT_ID_BASE else str(track_id)


def parse_track_id(value) -> int:
    """A keep-list entry: ``3`` or ``"3"`` (a face track), ``"T2"`` (text track 2 = 10002)."""
    if isinstance(value, str):
        v = value.strip()
        if v[:1] in ("T", "t"):
            n = int(v[1:])
            if n < 1:
                raise ValueError(f"no text track {value!r}")
            return TEXT_ID_BASE + n
        return int(v)
    return int(value)

#: Grounds an archivist may cite for masking, in zh-CN and en. ``third-party`` is the usual one
#: for a party's own copy: Article 31 lets the party view or copy, never a third party's data.
LEGAL_BASES: dict[str, dict[str, str]] = {
    "third-party": {
        "zh": "第三十一条：当事人查阅、复制时不得泄露第三人信息",
        "en": "Article 31: a party's copy must not disclose third-party information",
    },
    "privacy": {"zh": "个人隐私", "en": "personal privacy"},
    "minor": {"zh": "未成年人信息", "en": "information about a minor"},
    "trade-secret": {"zh": "商业秘密", "en": "trade secret"},
    "state-secret": {"zh": "国家秘密", "en": "state secret"},
    "law-enforcement": {"zh": "执法工作秘密", "en": "law-enforcement working secret"},
    "other": {"zh": "其他（见理由）", "en": "other (see reason)"},
}


def _check_basis(value: str) -> str:
    if value not in LEGAL_BASES:
        raise ValueError(f"unknown legal basis {value!r}; choose one of {sorted(LEGAL_BASES)}")
    return value


class ManualMask(BaseModel):
    """A box masked by hand over a time range (seconds from the start of the file)."""

    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in source pixels
    start: float = 0.0
    end: float = float("inf")
    reason: str = ""
    basis: str = "third-party"

    _basis = field_validator("basis")(classmethod(lambda cls, v: _check_basis(v)))

    @model_validator(mode="after")
    def _ordered(self):
        x1, y1, x2, y2 = self.box
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"mask box {self.box} is empty")
        if self.end < self.start:
            raise ValueError("mask ends before it starts")
        return self


class AudioRange(BaseModel):
    """A time range (seconds) of audio to silence or cover with a tone."""

    start: float
    end: float
    mode: Literal["mute", "bleep"] = "mute"
    reason: str = ""
    basis: str = "third-party"

    _basis = field_validator("basis")(classmethod(lambda cls, v: _check_basis(v)))

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("audio range ends before it starts")
        return self


class DetectionConfig(BaseModel):
    """How faces are found and followed in the main pass.

    ``every`` = 3 was chosen by measurement (benchmarks/bench_redact.py --ks 1,2,3,4,6,8): on
    the 25 fps crowd clip (1080p, 154 reference faces) the masks cover >= 90% of every reference
    face for k = 1..3 (recall 1.0), 0.994 for k = 4 and 6, 0.987 for k = 8; 3 is the largest k
    with no loss, at a third of the detector's cost.
    """

    threshold: float = 0.25
    scale: float = 1.0  # detector input size relative to the frame
    every: int = Field(3, ge=1)
    pad: float = Field(1.3, ge=1.0)
    iou_threshold: float = 0.1
    max_gap_seconds: float = 1.0
    extend: int | None = None  # frames; default every + 2

    def extend_frames(self) -> int:
        return self.extend if self.extend is not None else self.every + 2


class TextConfig(BaseModel):
    """Third parties' text (licence plates, documents, screens, name tags): found, read, tracked and
    masked like faces; the camera's own display (OSD) kept unless ``mask_osd``.

    Text is looked for with PP-OCRv4 (media/text) on the whole picture every ``every_seconds``
    (rounded to a multiple of ``every``) and, on the frames between (every ``every``-th frame,
    default the faces' cadence), only around the text tracks alive then, so that a moving plate is
    followed at the faces' cadence for a fraction of the cost. A track is text only when the
    recogniser reads characters on it with confidence (``read_*``) on at least ``read_min_reads``
    of the ``reads`` detections read (all of them when it was seen fewer times); inside a face, a
    track must be read on two detections, each with ``read_min_score_in_face``. Text tracks whose boxes lie on the display's lines (found once
    per file by :class:`media.text.osd.OsdReader`) are the display.
    """

    enabled: bool = True
    every: int | None = Field(None, ge=1)  # frames between follow-ups of live tracks; None = detection.every
    every_seconds: float = Field(0.5, gt=0)  # seconds between detections on the whole picture
    max_side: int = Field(960, ge=64)  # detector input's longer side (px)
    upscale: float = Field(2.0, ge=1.0)  # a picture under upscale_to px is enlarged toward it, at most this much
    upscale_to: int = Field(640, ge=64)
    region_score: bool = True  # score a text region over its own pixels (slanted lines), not its box
    box_thresh: float = 0.5  # DB least mean probability of a text box
    contrast: bool = True  # detect on the picture with its dark, flat parts' contrast raised
    pad: float = Field(1.15, ge=1.0)  # mask box growth about the text box's centre
    min_side: float = Field(6.0, ge=0)  # text boxes with a shorter side (px) are ignored
    read: bool = True  # a track is text only when read as text (False: every detected track is, as before issue 24)
    reads: int = Field(3, ge=1)  # detections of a track read by the recogniser (its most confident)
    read_min_chars: int = Field(2, ge=1)  # letters, digits or CJK characters a reading must hold
    read_min_score: float = 0.6  # least mean character probability of a reading
    read_min_reads: int = Field(2, ge=1)  # readings that must pass (fewer when fewer were made)
    read_min_score_in_face: float = 0.9  # ... inside a face (eyes read "ro" at 0.83 once), and on 2 readings
    mask_osd: bool = False  # the display is the record's provenance: kept by default
    osd_overlap: float = 0.5  # share of a text box inside the display's lines to count as display
    qa: bool = True  # the QA pass looks for residual text too
    qa_every_seconds: float = Field(1.0, gt=0)  # one full-frame text check every this many seconds
    qa_masked: float = 0.5  # a text box at least this much mask colour is a mask's edge, not text

    def every_for(self, detection: "DetectionConfig") -> int:
        """Frames between follow-ups of live text tracks."""
        return self.every or detection.every

    def full_every(self, detection: "DetectionConfig", fps: float) -> int:
        """Frames between detections on the whole picture: a multiple of :meth:`every_for`."""
        k = self.every_for(detection)
        return k * max(1, int(round(self.every_seconds * fps / k)))

    def reads_as_text(self, line, in_face: bool = False) -> bool:
        """Whether one reading (a :class:`media.text.recognize.TextLine`) passes; ``in_face``: of a
        box lying inside a face."""
        from media.text.recognize import reads_as_text

        score = max(self.read_min_score, self.read_min_score_in_face) if in_face else self.read_min_score
        return reads_as_text(line, self.read_min_chars, score)


class RedactSpec(BaseModel):
    """Everything a render needs beyond the source file."""

    keep: list[int] = Field(default_factory=list)
    style: Literal["solid", "mosaic"] = "solid"
    mosaic_block: int = Field(16, ge=16)
    color: tuple[int, int, int] = (0, 0, 0)
    masks: list[ManualMask] = Field(default_factory=list)
    audio: list[AudioRange] = Field(default_factory=list)
    reason: str = "third party in a party's copy"
    basis: str = "third-party"  # cited for every automatically tracked face
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    text: TextConfig = Field(default_factory=TextConfig)

    _basis = field_validator("basis")(classmethod(lambda cls, v: _check_basis(v)))

    @field_validator("keep", mode="before")
    @classmethod
    def _keep_ids(cls, v):
        # "T2" names text track 2 (id 10002), as the contact sheet shows it
        return [parse_track_id(x) for x in v] if isinstance(v, (list, tuple)) else v


def load_spec(path: str | Path | None = None, keep: list[int] | None = None) -> RedactSpec:
    """Read a spec file (or start from defaults) and add ``keep`` ids given on a command line."""
    spec = RedactSpec.model_validate(json.loads(Path(path).read_text("utf-8"))) if path else RedactSpec()
    if keep:
        spec.keep = sorted(set(spec.keep) | set(keep))
    return spec
