"""Finding and reading a camera's burned-in display (OSD): clock, device and officer numbers.

:class:`OsdReader` is fed pictures in presentation order, ``(t, image)`` with ``t`` in seconds
from the start of the file and ``image`` the full-size luma plane (or an RGB picture); it takes
``sample_rate`` samples a second (1 by default) and asks for nothing else (:meth:`OsdReader.wants`),
so a decode pass that already exists (:func:`media.gaps.qc.analyse`) can feed it without
converting the pictures it skips. :func:`read_osd` decodes a file for it; :func:`read_osd_frames`
takes any iterable of ``(t, image)``.

1. Finding, once per file: the text detector runs on ``find_samples`` samples ``find_spacing``
   seconds apart (shrunk to ``find_max_side``). Text boxes found in the same place on all of
   them are joined into lines and read once; a line holding a date and time is the clock, one
   holding a labelled device or officer number an ID line; other text (the scene) is dropped.
   When nothing is found the search is tried again ``find_round_spacing`` seconds later, at most
   ``find_rounds`` times.
2. Reading: only the crops of those lines are kept. The recogniser reads the clock crop every
   ``verify_every``-th sample; when two such readings disagree with the presentation time
   between them (or one cannot be read), every sample between them is read, so a jump is placed
   to the sample. ID lines are read on ``id_reads`` samples spread over the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from media.redact.detect import Detections, box_iou, nms
from media.text.detect import PPOCRDetector, to_gray
from media.text.parse import OsdFields, parse_osd, parse_time_of_day, time_of_day_span
from media.text.recognize import PPOCRRecognizer, TextLine
from media.text.settings import OsdSettings

__all__ = ["OsdRegion", "OsdSample", "OsdReading", "OsdReader", "read_osd", "read_osd_frames", "persistent_lines"]

CLOCK, IDS = "clock", "id"
_KEEP_IDS = 16  # crops of the ID lines kept for reading at the end (thinned as the file goes on)


@dataclass(frozen=True)
class OsdRegion:
    """One line of the display.

    Attributes
    ----------
    box : (x1, y1, x2, y2) of int
        The crop read, in pixels of the full picture.
    kind : str
        ``"clock"`` (holds the date and time) or ``"id"`` (device or officer number).
    text : str
        What was read there when the display was found.
    """

    box: tuple[int, int, int, int]
    kind: str
    text: str


@dataclass
class OsdSample:
    """One reading of the display at presentation time ``t`` (seconds from the file's start).

    ``text`` is what the recogniser read: the whole line(s), or the time of day alone (then the
    date of ``stamp`` comes from the neighbouring whole-line reading it agrees with). ``stamp``
    is the wall-clock time on screen (naive: the camera's own zone), None when no date and time
    could be read with enough confidence (``score`` under ``min_score``).
    """

    t: float
    text: str
    score: float
    stamp: datetime | None = None
    device: str | None = None
    officer: str | None = None
    layout: str | None = None
    weekday: str | None = None


@dataclass
class OsdReading:
    """What :class:`OsdReader` found in one file.

    Attributes
    ----------
    regions : list of OsdRegion
        The display's lines; empty when no display was found.
    samples : list of OsdSample
        Readings of the clock line(s), in time order (only the samples that were read).
    ids : list of OsdSample
        Readings of the ID line(s).
    sampled : int
        Samples taken (read or not).
    stats : dict
        Detector and recogniser runs and the seconds they took.
    """

    regions: list[OsdRegion] = field(default_factory=list)
    samples: list[OsdSample] = field(default_factory=list)
    ids: list[OsdSample] = field(default_factory=list)
    sampled: int = 0
    stats: dict = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.regions)

    @property
    def stamps(self) -> list[tuple[float, datetime]]:
        """``(t, time on screen)`` of every readable clock sample."""
        return [(s.t, s.stamp) for s in self.samples if s.stamp is not None]

    @property
    def readable(self) -> float:
        """Share of the clock samples read that gave a date and time (0 when none was read)."""
        return len(self.stamps) / len(self.samples) if self.samples else 0.0

    def _mode(self, name: str) -> str | None:
        values = Counter(getattr(s, name) for s in self.ids + self.samples if getattr(s, name))
        return values.most_common(1)[0][0] if values else None

    @property
    def device(self) -> str | None:
        """The device number read most often."""
        return self._mode("device")

    @property
    def officer(self) -> str | None:
        """The officer number read most often."""
        return self._mode("officer")

    @property
    def layout(self) -> str | None:
        return self._mode("layout")


def persistent_lines(found: list[Detections], iou: float) -> list[np.ndarray]:
    """Boxes present in every one of several detections, joined into text lines.

    Parameters
    ----------
    found : list of Detections
        Text boxes of the same file at different times.
    iou : float
        Least overlap of two boxes in the same place.

    Returns
    -------
    list of (4,) float ndarray
        One box per line (the union of its boxes over all detections), top to bottom.
    """
    if not found:
        return []
    kept = []
    for box in found[-1].boxes:
        union = box.copy()
        for other in found[:-1]:
            overlap = box_iou(box[None], other.boxes)[0] if len(other) else np.zeros(0)
            if not overlap.size or overlap.max() < iou:
                break
            match = other.boxes[int(overlap.argmax())]
            union = np.concatenate([np.minimum(union[:2], match[:2]), np.maximum(union[2:], match[2:])])
        else:
            kept.append(union)
    return _join_lines(kept)


def _join_lines(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Join boxes that share a text line (vertical overlap over half, gap under 2 heights)."""
    lines: list[np.ndarray] = []
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        for i, line in enumerate(lines):
            h = min(box[3] - box[1], line[3] - line[1])
            v_overlap = min(box[3], line[3]) - max(box[1], line[1])
            gap = max(box[0] - line[2], line[0] - box[2])
            if v_overlap > 0.5 * h and gap < 2 * h:
                lines[i] = np.concatenate([np.minimum(line[:2], box[:2]), np.maximum(line[2:], box[2:])])
                break
        else:
            lines.append(np.asarray(box, np.float32))
    return sorted(lines, key=lambda b: (b[1], b[0]))


def _separate(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Cut lines that overlap vertically at the middle of their overlap.

    DB grows each box by about its height, so the boxes of a display's adjacent lines overlap;
    a crop holding half of the next line misleads the recogniser.
    """
    out = [list(b) for b in boxes]
    order = sorted(range(len(out)), key=lambda i: out[i][1])
    for i, j in zip(order, order[1:]):
        a, b = out[i], out[j]
        if a[3] > b[1] and min(a[2], b[2]) > max(a[0], b[0]):
            mid = (a[3] + b[1]) // 2
            a[3], b[1] = max(mid, a[1] + 1), min(mid, b[3] - 1)
    return [tuple(b) for b in out]  # type: ignore[misc]


def _crop(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.ascontiguousarray(gray[y1:y2, x1:x2])


def _pad(box: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer crop around a line box, a sixth of its height wider on every side."""
    h, w = shape
    p = max(2.0, (box[3] - box[1]) / 6)
    x1, y1 = int(max(0, np.floor(box[0] - p))), int(max(0, np.floor(box[1] - p)))
    x2, y2 = int(min(w, np.ceil(box[2] + p))), int(min(h, np.ceil(box[3] + p)))
    return x1, y1, x2, y2


class OsdReader:
    """Finds a file's burned-in display and reads it, fed pictures in presentation order.

    Parameters
    ----------
    settings : OsdSettings, optional
    detector : PPOCRDetector, optional
        Text detector for the search; by default PP-OCRv4 at ``settings.find_max_side``.
    recognizer : PPOCRRecognizer, optional

    Examples
    --------
    >>> reader = OsdReader()                      # doctest: +SKIP
    >>> for t, luma in pictures:                  # doctest: +SKIP
    ...     if reader.wants(t):
    ...         reader.feed(t, luma)
    >>> reading = reader.finish()                 # doctest: +SKIP
    """

    def __init__(
        self,
        settings: OsdSettings | None = None,
        detector: PPOCRDetector | None = None,
        recognizer: PPOCRRecognizer | None = None,
    ):
        s = self.settings = settings or OsdSettings()
        self.detector = detector or PPOCRDetector(
            max_side=s.find_max_side, thresh=s.det_thresh, box_thresh=s.det_box_thresh,
            unclip_ratio=s.det_unclip_ratio, threads=s.threads,
        )
        self.recognizer = recognizer or PPOCRRecognizer(threads=s.threads)
        # second look at the text found, at full resolution (the model session is shared)
        self.fine = PPOCRDetector(
            max_side=s.refine_max_side, thresh=s.det_thresh, box_thresh=s.det_box_thresh,
            unclip_ratio=s.det_unclip_ratio, model_path=self.detector.model_path, threads=s.threads,
        )
        self.reading = OsdReading()
        self._period = 1.0 / s.sample_rate
        self._next = 0.0  # time of the next sample
        self._state = "search"  # search -> read, or search -> wait -> search ... -> none
        self._round = 1
        self._next_find = 0.0
        self._found: list[Detections] = []
        self._rechecked = False  # the later search samples were looked at only around earlier text
        self._buffer: list[tuple[float, np.ndarray]] = []  # whole pictures while searching
        self._known: dict[tuple[float, int], TextLine] = {}  # lines read while searching
        self._pending: list[tuple[float, list[np.ndarray]]] = []  # clock crops since the last read
        self._anchor: OsdSample | None = None  # the last clock sample read
        self._searched = 0.0  # time of the sample the display was found on
        self._tod: tuple[int, int] | None = None  # columns of the time of day in the clock crop
        self._id_crops: list[tuple[float, list[np.ndarray]]] = []
        self._id_stride = 1
        self._id_count = 0
        self._timing = {"detect_s": 0.0, "recognise_s": 0.0, "detections": 0, "crops_read": 0}

    # -- feeding --------------------------------------------------------------------------

    def wants(self, t: float) -> bool:
        """Whether the picture at ``t`` (seconds) is a sample: feed it then, skip it otherwise."""
        return t >= self._next - 1e-6

    def feed(self, t: float, image: np.ndarray) -> None:
        """Take the picture at ``t`` if it is a sample.

        Parameters
        ----------
        t : float
            Presentation time, seconds from the start of the file; increasing.
        image : ndarray
            Full-size (H, W) uint8 luma or (H, W, 3) RGB. Only crops are kept (a copy of the
            whole picture while the display is being searched), so a decoder's buffer may be
            passed and reused after the call.
        """
        if not self.wants(t):
            return
        self._next = (np.floor(t / self._period + 1e-6) + 1) * self._period
        self.reading.sampled += 1
        gray = to_gray(image)
        if self._state == "wait" and t >= self._next_find - 1e-6:
            self._state = "search"
        if self._state == "search":
            self._search(t, gray)
        elif self._state == "read":
            self._take(t, gray)

    def finish(self) -> OsdReading:
        """Read what is still pending and return the :class:`OsdReading`."""
        if self._state == "search" and self._found:
            self._settle(final=True)
        if self._state == "read":
            if self._pending:
                self._checkpoint()
            self._read_ids()
        self.reading.stats = {**self._timing, "recogniser_runs": self.recognizer.runs}
        self.reading.stats = {k: round(v, 4) if isinstance(v, float) else v for k, v in self.reading.stats.items()}
        return self.reading

    # -- finding the display --------------------------------------------------------------

    def _search(self, t: float, gray: np.ndarray) -> None:
        self._buffer.append((t, gray.copy()))
        if t < self._next_find - 1e-6:
            return
        t0 = time.perf_counter()
        prev = self._found[-1] if self._found else None
        if prev is not None and len(prev) <= self.settings.recheck_max:
            self._found.append(self._look_closer(prev.boxes, gray))  # only where text was
        else:
            self._rechecked = prev is None
            self._found.append(self.detector.detect(gray))
            self._timing["detections"] += 1
        self._timing["detect_s"] += time.perf_counter() - t0
        self._next_find = t + self.settings.find_spacing
        if len(self._found) >= self.settings.find_samples:
            self._settle()

    def _settle(self, final: bool = False) -> None:
        """Decide the display's lines from the searched samples; then read the buffered ones."""
        s = self.settings
        t_last, last = self._buffer[-1]
        if len(self._found) > 1 and self._rechecked:
            # every later sample was searched only around the text of the one before, at full
            # resolution: what is left stayed in place
            lines = _join_lines(list(self._found[-1].boxes))
        else:
            lines = self._refine(persistent_lines(self._found, s.same_place_iou), last)
        boxes = _separate([_pad(b, last.shape) for b in lines])
        texts = self._recognise([_crop(last, b) for b in boxes])
        regions = []
        for box, line in zip(boxes, texts):
            fields = parse_osd(line.text, tuple(s.device_labels), tuple(s.officer_labels))
            kind = CLOCK if fields.stamp else IDS if (fields.device or fields.officer) else None
            if kind and line.score >= s.min_score:
                regions.append(OsdRegion(box, kind, line.text))
                self._known[(t_last, len(regions) - 1)] = line
        self._found = []
        buffered, self._buffer = self._buffer, []
        if not regions:
            self._round += 1
            self._state = "none" if (final or self._round > s.find_rounds) else "wait"
            self._next_find = t_last + s.find_round_spacing
            return
        self.reading.regions = regions
        self._state = "read"
        self._read_buffered(buffered)

    def _read_buffered(self, buffered: list[tuple[float, np.ndarray]]) -> None:
        """Read the pictures kept while searching; the last one was read whole to classify."""
        regions, ids, clocks = self.reading.regions, self._lines(IDS), self._lines(CLOCK)
        t_last, last = buffered[-1]
        for t, gray in buffered:
            if ids:
                self._keep_ids(t, [_crop(gray, regions[i].box) for i in ids])
        self._searched = t_last
        if ids:
            self.reading.ids += self._samples([(t_last, [_crop(last, regions[i].box) for i in ids])], IDS)
        if not clocks:
            return
        items = [(t, [_crop(gray, regions[i].box) for i in clocks]) for t, gray in buffered]
        anchor = self._samples(items[-1:], CLOCK)[0]
        self.reading.samples += [*self._between(items[:-1], None, anchor), anchor]
        self._anchor = anchor

    def _around(self, box: np.ndarray, gray: np.ndarray) -> Detections:
        """Text boxes near ``box`` (a line height of margin), detected at full resolution.

        Boxes cut by the edge of that neighbourhood (not the picture's) are dropped: they are
        parts of other text, seen whole from its own neighbourhood.
        """
        h, w = gray.shape
        m = box[3] - box[1]
        x1, y1 = int(max(0, box[0] - m)), int(max(0, box[1] - m))
        x2, y2 = int(min(w, box[2] + m)), int(min(h, box[3] + m))
        found = self.fine.detect(gray[y1:y2, x1:x2])
        b = found.boxes
        cut = ((b[:, 0] <= 1) & (x1 > 0)) | ((b[:, 1] <= 1) & (y1 > 0))
        cut |= ((b[:, 2] >= x2 - x1 - 1) & (x2 < w)) | ((b[:, 3] >= y2 - y1 - 1) & (y2 < h))
        return Detections(b[~cut] + np.float32([x1, y1, x1, y1]), found.scores[~cut])

    def _look_closer(self, boxes: np.ndarray, gray: np.ndarray) -> Detections:
        """Text at full resolution around each of ``boxes`` in ``gray``, overlaps merged.

        The search runs on a shrunk picture, where small text is a few pixels high and the
        display's lines may merge into one box; around each box the detector sees the text at
        its own size and separates the lines.
        """
        found = [self._around(box, gray) for box in boxes]
        self._timing["close_looks"] = self._timing.get("close_looks", 0) + len(found)
        if not found or not sum(len(f) for f in found):
            return Detections.empty()
        all_boxes = np.concatenate([f.boxes for f in found])
        scores = np.concatenate([f.scores for f in found])
        keep = nms(all_boxes, scores, 0.5)
        return Detections(all_boxes[keep], scores[keep])

    def _refine(self, lines: list[np.ndarray], gray: np.ndarray) -> list[np.ndarray]:
        """Each line found on shrunk pictures, looked at again at full resolution (or kept)."""
        t0 = time.perf_counter()
        out: list[np.ndarray] = []
        for box in lines:
            found = self._around(box, gray)
            out += list(found.boxes) if len(found) else [box]
        self._timing["detect_s"] += time.perf_counter() - t0
        return _join_lines(out)

    # -- reading --------------------------------------------------------------------------

    def _lines(self, kind: str) -> list[int]:
        return [i for i, r in enumerate(self.reading.regions) if r.kind == kind]

    def _take(self, t: float, gray: np.ndarray) -> None:
        regions = self.reading.regions
        ids = self._lines(IDS)
        if ids:
            self._keep_ids(t, [_crop(gray, regions[i].box) for i in ids])
        clocks = self._lines(CLOCK)
        if not clocks:
            return
        self._pending.append((t, [_crop(gray, regions[i].box) for i in clocks]))
        if len(self._pending) >= self.settings.verify_every:
            self._checkpoint()

    def _keep_ids(self, t: float, crops: list[np.ndarray]) -> None:
        """Keep every ``stride``-th ID crop, at most :data:`_KEEP_IDS`, halving as needed."""
        if self._id_count % self._id_stride == 0:
            self._id_crops.append((t, crops))
            if len(self._id_crops) > _KEEP_IDS:
                self._id_crops = self._id_crops[::2]
                self._id_stride *= 2
        self._id_count += 1

    def _checkpoint(self) -> None:
        """Read the last pending sample; when it disagrees with the anchor, read the others.

        With ``read_time_only`` the last sample's time of day alone is read first (its date
        taken from the anchor); the whole line is read when that does not agree.
        """
        t, crops = self._pending[-1]
        last = self._time_only([(t, crops)], [self._anchor])[0]
        samples: list[OsdSample] = []
        if last is None:
            last = self._sample(t, crops, kind=CLOCK)
            if not self._agrees(self._anchor, last):
                samples = self._between(self._pending[:-1], self._anchor, last)
        self.reading.samples += [*samples, last]
        self._anchor = last
        self._pending = []

    def _between(self, items, a: OsdSample | None, b: OsdSample | None) -> list[OsdSample]:
        """Read clock samples that lie between readings ``a`` and ``b`` (either may be None).

        Time of day alone where it agrees with ``a`` or ``b``; whole lines, in one batch, for
        the rest.
        """
        quick = self._time_only(items, [a, b])
        full = iter(self._samples([item for item, q in zip(items, quick) if q is None], CLOCK))
        return [q if q is not None else next(full) for q in quick]

    def _time_only(self, items, refs: list[OsdSample | None]) -> list[OsdSample | None]:
        """Read the time of day of clock samples in one batch; a reading is kept (dated from the
        first reference it agrees with) or None."""
        refs = [r for r in refs if r is not None and r.stamp is not None]
        if self._tod is None or not refs or not items:
            return [None] * len(items)
        x1, x2 = self._tod
        lines = self._recognise([np.ascontiguousarray(crops[0][:, x1:x2]) for _, crops in items])
        out: list[OsdSample | None] = []
        for (t, _), line in zip(items, lines):
            tod = parse_time_of_day(line.text) if line.score >= self.settings.min_score else None
            out.append(next((x for x in (self._dated(t, line, tod, r) for r in refs) if x is not None), None))
        return out

    def _dated(self, t: float, line: TextLine, tod, ref: OsdSample) -> OsdSample | None:
        """A time-of-day reading dated from ``ref`` (across midnight either way), if it agrees."""
        if tod is None:
            return None
        stamp = datetime.combine(ref.stamp.date(), tod)
        if stamp < ref.stamp - timedelta(hours=12):
            stamp += timedelta(days=1)
        elif stamp > ref.stamp + timedelta(hours=12):
            stamp -= timedelta(days=1)
        sample = OsdSample(t, line.text, round(line.score, 4), stamp, layout=ref.layout)
        return sample if self._agrees(ref, sample) else None

    def _learn_time_of_day(self, line: TextLine, width: int) -> None:
        """Where the time of day is in the clock crop, from a whole-line reading's characters."""
        span = time_of_day_span(line.text)
        if span is None or len(line.x) != len(line.text) or span[1] - span[0] < 4:
            return
        xs = line.x[span[0] : span[1]]
        pitch = float(np.median(np.diff(xs)))
        self._tod = (max(0, int(xs[0] - 0.8 * pitch)), min(width, int(np.ceil(xs[-1] + 0.8 * pitch))))

    def _agrees(self, a: OsdSample | None, b: OsdSample) -> bool:
        if a is None or a.stamp is None or b.stamp is None:
            return False
        moved = (b.stamp - a.stamp).total_seconds() - (b.t - a.t)
        return abs(moved) <= self.settings.jump_tolerance

    def _read_ids(self) -> None:
        """Read the ID lines on ``id_reads - 1`` more samples spread over the rest of the file."""
        later = [item for item in self._id_crops if item[0] > self._searched]
        n = min(self.settings.id_reads - 1, len(later))
        if n <= 0:
            return
        picks = sorted({int(round(i)) for i in np.linspace(len(later) - 1, 0, n, endpoint=False)})
        self.reading.ids += self._samples([later[i] for i in picks], IDS)

    def _sample(self, t: float, crops: list[np.ndarray], kind: str) -> OsdSample:
        return self._samples([(t, crops)], kind)[0]

    def _samples(self, items: list[tuple[float, list[np.ndarray]]], kind: str) -> list[OsdSample]:
        """Read the crops of several samples in one batch and parse each sample's lines."""
        index = self._lines(kind)
        todo = [(j, k, crop) for j, (t, crops) in enumerate(items) for k, crop in enumerate(crops)
                if (t, index[k]) not in self._known]
        read = dict(zip([(j, k) for j, k, _ in todo], self._recognise([c for _, _, c in todo])))
        out = []
        for j, (t, crops) in enumerate(items):
            lines = [read.get((j, k)) or self._known[(t, index[k])] for k in range(len(crops))]
            out.append(self._parse(t, lines))
            if kind == CLOCK and self._tod is None and len(lines) == 1 and out[-1].stamp and self.settings.read_time_only:
                self._learn_time_of_day(lines[0], crops[0].shape[1])
        return out

    def _parse(self, t: float, lines: list[TextLine]) -> OsdSample:
        s = self.settings
        text = " ".join(line.text for line in lines)
        score = min((line.score for line in lines), default=0.0)
        f = parse_osd(text, tuple(s.device_labels), tuple(s.officer_labels)) if score >= s.min_score else OsdFields()
        return OsdSample(t, text, round(score, 4), f.stamp, f.device, f.officer, f.layout, f.weekday)

    def _recognise(self, crops: list[np.ndarray]) -> list[TextLine]:
        if not crops:
            return []
        t0 = time.perf_counter()
        lines = self.recognizer.read(crops)
        self._timing["recognise_s"] += time.perf_counter() - t0
        self._timing["crops_read"] += len(crops)
        return lines


def read_osd_frames(items: Iterable[tuple[float, np.ndarray]], settings: OsdSettings | None = None) -> OsdReading:
    """Read the display from ``(t, image)`` items in presentation order (see :class:`OsdReader`).

    ``image`` is a full-size luma plane or RGB picture; only the samples are looked at.
    """
    reader = OsdReader(settings)
    for t, image in items:
        if reader.wants(t):
            reader.feed(t, image)
    return reader.finish()


def luma(frame) -> np.ndarray:
    """Full-size 8-bit luma of a PyAV video frame: a view of plane 0 for 8-bit YUV/grey formats
    (valid until the decoder reuses the buffer), a conversion otherwise."""
    name = frame.format.name
    if name.startswith(("yuv", "yuvj", "nv12", "nv21", "gray")) and not name.endswith(("le", "be")):
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")


def _decoded(path: str | Path) -> Iterable[tuple[float, object]]:
    """``(t, frame)`` of the first video stream, reference pictures only (as the QC pass decodes)."""
    import av

    with av.open(str(path)) as container:
        videos = [x for x in container.streams.video if not x.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            return
        stream = videos[0]
        stream.codec_context.thread_type = "AUTO"
        if stream.codec_context.name in ("h264", "hevc"):
            stream.codec_context.skip_frame = "NONREF"
        origin = (container.start_time or 0) / 1_000_000
        for frame in container.decode(stream):
            if frame.pts is not None:
                yield frame.time - origin, frame


def read_osd(path: str | Path, settings: OsdSettings | None = None) -> OsdReading:
    """Find and read the burned-in display of the file at ``path`` in its own decode pass.

    Parameters
    ----------
    path : str or Path
        A video file.
    settings : OsdSettings, optional
        Sample rate, search and reading parameters.

    Returns
    -------
    OsdReading

    Notes
    -----
    The model sessions are cached per process, so reading many files loads them once.
    """
    reader = OsdReader(settings)
    for t, frame in _decoded(path):
        if reader.wants(t):
            reader.feed(t, luma(frame))
    return reader.finish()
