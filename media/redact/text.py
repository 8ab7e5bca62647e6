"""Third parties' text in the picture: licence plates, documents, screens, name tags (Article 31).

Text lines are found with PP-OCRv4's detector (:class:`media.text.detect.PPOCRDetector`, the same
``detect(image) -> Detections`` interface as the face detectors) on every k-th frame of the
tracks pass and followed with the faces' :class:`~media.redact.track.Tracker`; text tracks are
numbered from :data:`~media.redact.spec.TEXT_ID_BASE` (shown as ``T1``, ``T2`` ...). In the same
decode pass :class:`media.text.osd.OsdReader` finds the camera's own display (OSD) once per file;
text tracks lying on its lines become kind ``"osd"`` and are kept visible unless the settings say
``mask_osd`` (the display is the record's provenance). Each text track's best crop is read once by
the recogniser, and the text read gives a guess of what it is (:func:`guess_what`) for the
redaction log; the text itself is not written to the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .detect import Detections
from .spec import TEXT_ID_BASE, DetectionConfig, TextConfig
from .track import Track, Tracker, clip_boxes, pad_boxes

__all__ = ["WHAT", "guess_what", "TextPass", "text_detector", "on_osd", "keep_text_box"]

#: What a text track is, as the redaction log names it: (zh, en).
WHAT: dict[str, tuple[str, str]] = {
    "plate": ("车牌", "licence plate"),
    "document": ("文件", "document"),
    "screen": ("屏幕", "screen"),
    "text": ("文字", "text"),
}

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领警学"
# 京A·12345, 粤B 8K3D2, 沪AD12345 (new-energy plates have 6 characters after the letter)
_PLATE = re.compile(rf"[{_PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}")
_LATIN_PLATE = re.compile(r"\b[A-Z]{1,3}[- ]?[0-9]{2,4}[- ]?[A-Z0-9]{0,3}\b")
_SCREEN = re.compile(r"(https?:|www\.|\.com|\.cn|@|密码|登录|账号|微信|支付|余额|电量|信号|WiFi|wifi|\d{1,2}:\d{2}(?!:))")
_DOCUMENT_WORDS = re.compile(r"(身份证|姓名|性别|民族|出生|住址|地址|号码|证件|公民|合同|通知|编号|签名|日期|单位|证明)")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def guess_what(text: str) -> str:
    """``"plate"``, ``"document"``, ``"screen"`` or ``"text"`` from what the recogniser read.

    A Chinese plate is a province character, a letter and five or six letters/digits
    (京A·12345: the separator dot and spaces are ignored); a document holds words such as 姓名 or
    身份证 or a long run of Chinese; a screen shows a web address, a log-in word or a clock. Only
    a guess for the log: every text track is masked whatever it is.
    """
    compact = re.sub(r"[\s·•.。・\-_]", "", text or "")
    if _PLATE.search(compact):
        return "plate"
    if _SCREEN.search(text or ""):
        return "screen"
    if _DOCUMENT_WORDS.search(compact) or len(_CJK.findall(compact)) >= 6:
        return "document"
    if _LATIN_PLATE.fullmatch((text or "").strip().upper()) and any(c.isdigit() for c in text):
        return "plate"
    return "text"


def text_detector(config: TextConfig, threads: int | None = None):
    """The PP-OCRv4 detector the settings ask for (imported here: it loads onnxruntime)."""
    from media.text.detect import PPOCRDetector

    return PPOCRDetector(max_side=config.max_side, box_thresh=config.box_thresh, threads=threads)


def _big_enough(d: Detections, min_side: float) -> Detections:
    if not len(d):
        return d
    sides = np.minimum(d.boxes[:, 2] - d.boxes[:, 0], d.boxes[:, 3] - d.boxes[:, 1])
    keep = sides >= min_side
    return Detections(d.boxes[keep], d.scores[keep])


def on_osd(box, regions: list[tuple[int, int, int, int]], share: float) -> bool:
    """Whether at least ``share`` of ``box`` lies inside one of the display's line boxes."""
    x1, y1, x2, y2 = (float(v) for v in box)
    area = max(1e-6, (x2 - x1) * (y2 - y1))
    for r in regions:
        iw = min(x2, r[2]) - max(x1, r[0])
        ih = min(y2, r[3]) - max(y1, r[1])
        if iw > 0 and ih > 0 and iw * ih / area >= share:
            return True
    return False


def keep_text_box(box, kept_boxes: np.ndarray, osd: list[tuple[int, int, int, int]], share: float) -> bool:
    """Whether a text box found in an output is explained: on the kept display or in a kept track."""
    if osd and on_osd(box, osd, share):
        return True
    kept_boxes = np.asarray(kept_boxes, np.float64).reshape(-1, 4)
    if len(kept_boxes):
        regions = [tuple(b) for b in pad_boxes(kept_boxes, 1.5)]
        return on_osd(box, regions, share)
    return False


@dataclass
class TextPass:
    """Text detection, tracking and the display search, fed the tracks pass's frames.

    Parameters
    ----------
    config : TextConfig
    detection : DetectionConfig
        The faces' settings: the tracker's gap and extension follow them.
    fps : float
    """

    config: TextConfig
    detection: DetectionConfig
    fps: float
    detector: object = None
    tracker: Tracker = field(init=False)
    osd_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    crops: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        from media.text.osd import OsdReader

        self.every = self.config.every_for(self.detection)
        self.detector = self.detector or text_detector(self.config)
        self.tracker = Tracker(
            iou_threshold=self.detection.iou_threshold,
            max_gap=max(2 * self.every, int(round(self.detection.max_gap_seconds * self.fps))),
            extend=self.every + 2, first_id=TEXT_ID_BASE + 1, kind="text",
        )
        self.osd = OsdReader()

    def feed(self, i: int, t: float, frame, rgb: np.ndarray | None) -> np.ndarray | None:
        """Frame ``i`` at ``t`` seconds; ``rgb`` its full-size RGB picture if already converted.

        Returns the RGB picture (converted here when it was needed), for the caller to reuse.
        """
        if self.osd.wants(t):
            from media.text.osd import luma

            self.osd.feed(t, luma(frame))
        if i % self.every:
            return rgb
        if rgb is None:
            rgb = frame.to_ndarray(format="rgb24")
        dets = _big_enough(self.detector.detect(rgb), self.config.min_side)
        for di, tid in self.tracker.update(i, dets):
            score = float(dets.scores[di])
            if score > self.crops.get(tid, (-1.0, None))[0]:
                b = clip_boxes(pad_boxes(dets.boxes[di], 1.08), rgb.shape[1], rgb.shape[0])[0]
                self.crops[tid] = (score, rgb[b[1] : b[3], b[0] : b[2]].copy())
        return rgb

    def finish(self) -> list[Track]:
        """The text tracks: the display's marked ``"osd"``, the others read and guessed."""
        reading = self.osd.finish()
        self.osd_boxes = [tuple(int(v) for v in r.box) for r in reading.regions]
        tracks = self.tracker.tracks
        for t in tracks:
            boxes = np.asarray(t.boxes)
            if self.osd_boxes and np.mean([on_osd(b, self.osd_boxes, self.config.osd_overlap) for b in boxes]) >= 0.5:
                t.kind = "osd"
        readable = [t for t in tracks if t.id in self.crops and self.crops[t.id][1].size]
        if readable:
            from media.text.recognize import PPOCRRecognizer

            lines = PPOCRRecognizer().read([self.crops[t.id][1] for t in readable])
            for t, line in zip(readable, lines):
                t.text = line.text
        for t in tracks:
            t.what = "osd" if t.kind == "osd" else guess_what(t.text)
        return tracks
