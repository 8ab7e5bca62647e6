"""Third parties' text in the picture: licence plates, documents, screens, name tags (Article 31).

Text lines are found with PP-OCRv4's detector (:class:`media.text.detect.PPOCRDetector`, the same
``detect(image) -> Detections`` interface as the face detectors) on the whole picture every
``TextConfig.every_seconds`` of the tracks pass and, between those, around the live text tracks at
the faces' cadence; they are followed with the faces' :class:`~media.redact.track.Tracker`. A track
is text only when the recogniser (:class:`media.text.recognize.PPOCRRecognizer`) reads characters
on its most confident detections with enough confidence (issue 24: eyes, mouths, hands and collar
stars are detected as text lines but read as nothing, or as one or two low-confidence
characters); text tracks are numbered from :data:`~media.redact.spec.TEXT_ID_BASE` (shown as
``T1``, ``T2`` ...). In the same decode pass :class:`media.text.osd.OsdReader` finds the camera's
own display (OSD) once per file; text tracks lying on its lines become kind ``"osd"`` and are kept
visible unless the settings say ``mask_osd`` (the display is the record's provenance). The text read
gives a guess of what each track is (:func:`guess_what`) for the redaction log; the text itself is
not written to the log (the contact sheet and the tracks JSON show it to the archivist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .detect import Detections
from .spec import TEXT_ID_BASE, DetectionConfig, TextConfig
from .track import Track, TrackIndex, Tracker, clip_boxes, pad_boxes

__all__ = ["WHAT", "guess_what", "TextPass", "find_text", "text_detector", "text_recognizer", "crop_for_reading", "detect_around",
           "on_osd", "keep_text_box"]

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

    return PPOCRDetector(max_side=config.max_side, box_thresh=config.box_thresh, threads=threads,
                         contrast=config.contrast, upscale=config.upscale, upscale_to=config.upscale_to,
                         region_score=config.region_score)


def text_recognizer(threads: int | None = None):
    """The PP-OCRv4 recogniser (imported here: it loads onnxruntime)."""
    from media.text.recognize import PPOCRRecognizer

    return PPOCRRecognizer(threads=threads)


def crop_for_reading(rgb: np.ndarray, box) -> np.ndarray:
    """The crop the recogniser reads for a text box: the box grown 8 %, clipped to the picture."""
    b = clip_boxes(pad_boxes(np.asarray(box, np.float64), 1.08), rgb.shape[1], rgb.shape[0])[0]
    return rgb[b[1] : b[3], b[0] : b[2]].copy()


def detect_around(detector, rgb: np.ndarray, boxes: np.ndarray, grow: float = 2.0, least: int = 48) -> Detections:
    """Text detections in the regions around ``boxes`` (each grown ``grow`` times, at least ``least``
    px a side; overlapping regions merged), in picture pixels: the follow-up of live text tracks
    between whole-picture detections, at a fraction of a whole picture's cost."""
    h, w = rgb.shape[:2]
    regions = []
    for b in pad_boxes(np.asarray(boxes, np.float64).reshape(-1, 4), grow):
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        hw, hh = max(b[2] - b[0], least) / 2, max(b[3] - b[1], least) / 2
        regions.append([cx - hw, cy - hh, cx + hw, cy + hh])
    merged: list[list[float]] = []
    for r in sorted(regions):
        for m in merged:
            if r[0] < m[2] and m[0] < r[2] and r[1] < m[3] and m[1] < r[3]:
                m[:] = [min(m[0], r[0]), min(m[1], r[1]), max(m[2], r[2]), max(m[3], r[3])]
                break
        else:
            merged.append(list(r))
    out_b, out_s = [], []
    # each region at the scale its whole picture is looked at
    ratio = detector.ratio_for(w, h) if hasattr(detector, "ratio_for") else None
    for x1, y1, x2, y2 in clip_boxes(np.asarray(merged).reshape(-1, 4), w, h):
        if x2 - x1 < 8 or y2 - y1 < 8:
            continue
        crop = rgb[y1:y2, x1:x2]
        d = detector.detect(crop, ratio) if ratio is not None else detector.detect(crop)
        if len(d):
            out_b.append(d.boxes + np.float32([x1, y1, x1, y1]))
            out_s.append(d.scores)
    if not out_b:
        return Detections.empty()
    return Detections(np.concatenate(out_b).astype(np.float32), np.concatenate(out_s).astype(np.float32))


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


def _in_faces(track: Track, faces: TrackIndex | None, pad: float) -> bool:
    """Whether most of a text track's key boxes are centred inside a face track's (padded) box."""
    if faces is None:
        return False
    inside = 0
    for f, b in zip(track.frames, track.boxes):
        _, fb = faces.boxes_at(f)
        if len(fb):
            z = pad_boxes(fb, pad)
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            inside += bool(((z[:, 0] <= cx) & (cx <= z[:, 2]) & (z[:, 1] <= cy) & (cy <= z[:, 3])).any())
    return inside * 2 > len(track.frames)


def _centred_in(box, zones: np.ndarray) -> bool:
    zones = np.asarray(zones, np.float64).reshape(-1, 4)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(((zones[:, 0] <= cx) & (cx <= zones[:, 2]) & (zones[:, 1] <= cy) & (cy <= zones[:, 3])).any())


def find_text(rgb: np.ndarray, config: TextConfig, detector=None, recognizer=None,
              faces: np.ndarray | None = None, face_pad: float = 1.3) -> tuple[Detections, list]:
    """Text in one picture, as the tracks pass decides it: the detector's boxes (at least
    ``config.min_side`` a side) that the recogniser reads as text (all of them without
    ``config.read``); a box centred in one of ``faces`` (grown ``face_pad``) must be read with
    ``config.read_min_score_in_face``. Returns the boxes kept and what was read on each."""
    detector = detector or text_detector(config)
    d = _big_enough(detector.detect(rgb), config.min_side)
    if not len(d):
        return d, []
    recognizer = recognizer or text_recognizer()
    lines = recognizer.read([crop_for_reading(rgb, b) for b in d.boxes])
    zones = pad_boxes(faces, face_pad) if faces is not None and len(faces) else None
    keep = np.array([not config.read or config.reads_as_text(ln, zones is not None and _centred_in(b, zones))
                     for b, ln in zip(d.boxes, lines)], bool)
    return Detections(d.boxes[keep], d.scores[keep]), [ln for ln, k in zip(lines, keep) if k]


@dataclass
class TextPass:
    """Text detection, tracking, reading and the display search, fed the tracks pass's frames.

    The whole picture is searched every :meth:`TextConfig.full_every` frames; on the frames
    between (every ``every``-th) only the regions around live text tracks are, so tracks are
    followed at the faces' cadence (:func:`detect_around`). Each track keeps the crops of its
    ``config.reads`` most confident detections; :meth:`finish` reads them and keeps the track
    only if enough readings are text (:meth:`TextConfig.reads_as_text`).

    Parameters
    ----------
    config : TextConfig
    detection : DetectionConfig
        The faces' settings: the tracker's gap and the follow-up cadence follow them.
    fps : float
    """

    config: TextConfig
    detection: DetectionConfig
    fps: float
    detector: object = None
    recognizer: object = None
    tracker: Tracker = field(init=False)
    osd_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    crops: dict[int, list[tuple[float, int, np.ndarray]]] = field(default_factory=dict, repr=False)
    thumbs: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict, repr=False)
    stats: dict[str, int] = field(default_factory=lambda: {"full_checks": 0, "follow_checks": 0, "reads": 0,
                                                           "dropped": 0})

    def __post_init__(self):
        from media.text.osd import OsdReader

        self.every = self.config.every_for(self.detection)
        self.full = self.config.full_every(self.detection, self.fps)
        self.detector = self.detector or text_detector(self.config)
        self.tracker = Tracker(
            iou_threshold=self.detection.iou_threshold,
            max_gap=max(2 * self.full, int(round(self.detection.max_gap_seconds * self.fps))),
            # text that appears between two whole-picture searches is first seen up to ``full``
            # frames late: the mask starts that much before its first detection
            extend=self.full + 2, first_id=TEXT_ID_BASE + 1, kind="text",
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
        full = i % self.full == 0
        live = [] if full else [tr for tr in self.tracker.tracks if i - tr.frames[-1] <= self.tracker.max_gap]
        if not full and not live:
            return rgb
        if rgb is None:
            rgb = frame.to_ndarray(format="rgb24")
        if full:
            self.stats["full_checks"] += 1
            dets = self.detector.detect(rgb)
        else:
            self.stats["follow_checks"] += 1
            dets = detect_around(self.detector, rgb, np.stack([tr.predict(i) for tr in live]))
        dets = _big_enough(dets, self.config.min_side)
        for di, tid in self.tracker.update(i, dets):
            kept = self.crops.setdefault(tid, [])
            score = float(dets.scores[di])
            if len(kept) < self.config.reads or score > kept[-1][0]:
                kept.append((score, i, crop_for_reading(rgb, dets.boxes[di])))
                kept.sort(key=lambda c: -c[0])
                del kept[self.config.reads :]
        return rgb

    def finish(self, faces: list[Track] | None = None) -> list[Track]:
        """The text tracks: the display's marked ``"osd"``; the others read, and kept only when
        read as text (then numbered T1, T2 ... by their first frame), the rest dropped.

        ``faces``: the clip's face tracks: a track lying inside a face must be read as text on
        two detections (a face's eyes, nose or mouth seen once are never text).
        """
        reading = self.osd.finish()
        self.osd_boxes = [tuple(int(v) for v in r.box) for r in reading.regions]
        tracks = self.tracker.tracks
        for t in tracks:
            boxes = np.asarray(t.boxes)
            if self.osd_boxes and np.mean([on_osd(b, self.osd_boxes, self.config.osd_overlap) for b in boxes]) >= 0.5:
                t.kind = "osd"
        todo = [(t, c) for t in tracks for c in self.crops.get(t.id, []) if c[2].size]
        lines = []
        if todo:
            self.recognizer = self.recognizer or text_recognizer()
            lines = self.recognizer.read([c[2] for _, c in todo])
            self.stats["reads"] += len(lines)
        by_track: dict[int, list] = {}
        for (t, _), line in zip(todo, lines):
            by_track.setdefault(t.id, []).append(line)
        face_index = TrackIndex(faces) if faces else None
        kept: list[Track] = []
        for t in tracks:
            read = by_track.get(t.id, [])
            if t.kind == "osd":  # the display: kept visible, read for the sheet only
                if read:
                    best = max(read, key=lambda ln: ln.score)
                    t.text, t.read_score = best.text, round(float(best.score), 3)
                kept.append(t)
                continue
            in_face = _in_faces(t, face_index, self.detection.pad)
            good = [ln for ln in read if self.config.reads_as_text(ln, in_face)]
            need = min(self.config.read_min_reads, len(read))
            if in_face:
                need = max(need, 2)
            # without ``read``, every detected track is text (the behaviour before issue 24)
            if not self.config.read or (read and len(good) >= need):
                shown = good or read
                if shown:
                    best = max(shown, key=lambda ln: ln.score)
                    t.text, t.read_score = best.text, round(float(best.score), 3)
                kept.append(t)
            else:
                self.stats["dropped"] += 1
        # number the tracks kept T1, T2 ... in order of appearance (the ids the archivist sees)
        kept.sort(key=lambda t: (t.frames[0], t.id))
        for n, t in enumerate(kept, start=1):
            crops = self.crops.get(t.id, [])
            if crops:
                self.thumbs[TEXT_ID_BASE + n] = (crops[0][0], crops[0][2])
            t.id = TEXT_ID_BASE + n
        for t in kept:
            t.what = "osd" if t.kind == "osd" else guess_what(t.text)
        return kept
