"""The two streaming passes of a redaction: find face tracks, then render the masked copy.

Both passes decode frame by frame and keep nothing per frame beyond the tracks' key frames (a
few numbers per detection) and one small thumbnail per track, so memory does not grow with the
clip's length. Frames are numbered in presentation order from 0, the same in both passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np

from .audio import AudioRedactor
from .detect import CenterFace, Detections, FaceDetector
from .masks import apply_masks
from .spec import DetectionConfig, RedactSpec, TextConfig
from .threads import encode_threads, set_decoder_threads
from .track import Track, TrackIndex, Tracker, clip_boxes, pad_boxes
from ..probe import sha256_file

__all__ = ["TrackSet", "RenderResult", "find_tracks", "render", "masked_tracks", "sha256_file", "probe_video", "Progress"]

#: ``progress(stage, done, total)``: stage is "detect", "render" or "qa"; total may be 0 if unknown.
Progress = Callable[[str, int, int], None]

THUMB = 128  # longest side of a contact-sheet thumbnail, pixels


def probe_video(path: str | Path) -> dict[str, Any]:
    """Frame rate, size, frame-count estimate and duration of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or 25
        duration = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        frames = s.frames or int(round(duration * float(rate)))
        return {"fps": float(rate), "rate": str(rate), "width": s.width, "height": s.height,
                "frames": frames, "duration": duration}


@dataclass
class TrackSet:
    """The face tracks of one clip, as the archivist sees them on the contact sheet."""

    source: str
    fps: float
    frames: int
    width: int
    height: int
    config: DetectionConfig
    tracks: list[Track]
    sha256: str | None = None
    detector: str = "centerface"
    # Whether decoded frames carried strictly increasing timestamps. AVI with packed B-frames
    # labels frames with their decode times, out of order; such a copy is stamped at the
    # constant frame rate instead.
    pts_monotonic: bool = True
    thumbs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    # Text: the settings it was found with (None: text was not looked for) and the camera
    # display's line boxes (x1, y1, x2, y2), found once per file.
    text: TextConfig | None = None
    osd_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    # what the text search did: whole-picture checks, follow-ups around live tracks, crops read,
    # tracks dropped because the recogniser read no text on them
    text_stats: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "fps": self.fps,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "detector": self.detector,
            "pts_monotonic": self.pts_monotonic,
            "config": self.config.model_dump(),
            "text": self.text.model_dump() if self.text else None,
            "osd_boxes": [list(b) for b in self.osd_boxes],
            "text_stats": self.text_stats,
            "tracks": [t.to_dict(self.fps) for t in self.tracks],
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), "utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TrackSet":
        d = json.loads(Path(path).read_text("utf-8"))
        return cls(
            source=d["source"], fps=d["fps"], frames=d["frames"], width=d["width"], height=d["height"],
            config=DetectionConfig.model_validate(d["config"]), sha256=d.get("sha256"),
            detector=d.get("detector", "centerface"), tracks=[Track.from_dict(t) for t in d["tracks"]],
            pts_monotonic=d.get("pts_monotonic", True),
            text=TextConfig.model_validate(d["text"]) if d.get("text") else None,
            osd_boxes=[tuple(int(v) for v in b) for b in d.get("osd_boxes", [])],
            text_stats=d.get("text_stats", {}),
        )

    def ids(self) -> list[int]:
        return [t.id for t in self.tracks]


def _detect_image(frame: av.VideoFrame, scale: float) -> tuple[np.ndarray, float, float]:
    """The RGB array handed to the detector, resized by swscale; and the factors back to the frame."""
    if scale == 1.0:
        return frame.to_ndarray(format="rgb24"), 1.0, 1.0
    w = max(32, int(round(frame.width * scale / 2)) * 2)
    h = max(32, int(round(frame.height * scale / 2)) * 2)
    img = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="BILINEAR")
    return img, frame.width / w, frame.height / h


def detect_frame(detector: FaceDetector, frame: av.VideoFrame, scale: float) -> tuple[Detections, np.ndarray]:
    """Detect on one decoded frame; boxes in frame pixels. Also returns the detector's image."""
    img, sx, sy = _detect_image(frame, scale)
    d = detector.detect(img)
    boxes = d.boxes * np.array([sx, sy, sx, sy], np.float32)
    return Detections(boxes, d.scores), img


def find_tracks(
    src: str | Path,
    config: DetectionConfig | None = None,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
    sha256: str | None = None,
    text: TextConfig | None = None,
    text_detector=None,
) -> TrackSet:
    """Pass 1: detect faces on every ``config.every``-th frame and follow them into tracks.

    With ``text`` (enabled), the same decode pass also detects text every ``text.every``-th frame,
    tracks it (ids from ``TEXT_ID_BASE``) and finds the camera's display
    (:class:`media.redact.text.TextPass`).

    Parameters
    ----------
    src : path
        Any file PyAV opens; its first video stream is used.
    config : DetectionConfig, optional
    detector : FaceDetector, optional
        Default ``CenterFace(threshold=config.threshold)``.
    progress : callable, optional
        ``progress("detect", done, total)`` after every frame.
    """
    config = config or DetectionConfig()
    detector = detector or CenterFace(threshold=config.threshold)
    info = probe_video(src)
    fps = info["fps"]
    tracker = Tracker(
        iou_threshold=config.iou_threshold,
        max_gap=max(2 * config.every, int(round(config.max_gap_seconds * fps))),
        extend=config.extend_frames(),
    )
    thumbs: dict[int, tuple[float, np.ndarray]] = {}
    text_pass = None
    if text is not None and text.enabled:
        from .text import TextPass

        text_pass = TextPass(text, config, fps, detector=text_detector)
    n, last_pts, monotonic = 0, None, True
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        set_decoder_threads(stream)
        origin = (c.start_time or 0) / 1_000_000
        for i, frame in enumerate(c.decode(stream)):
            img = None
            n = i + 1
            if frame.pts is None or (last_pts is not None and frame.pts <= last_pts):
                monotonic = False
            last_pts = frame.pts if frame.pts is not None else last_pts
            if i % config.every == 0:
                dets, img = detect_frame(detector, frame, config.scale)
                for di, tid in tracker.update(i, dets):
                    score = float(dets.scores[di])
                    if score > thumbs.get(tid, (-1.0, None))[0]:
                        thumbs[tid] = (score, _thumbnail(img, dets.boxes[di], frame.width / img.shape[1]))
            if text_pass is not None:
                t = frame.time - origin if frame.time is not None else i / fps
                full = img if img is not None and img.shape[1] == frame.width else None
                text_pass.feed(i, t, frame, full)
            if progress:
                progress("detect", n, info["frames"])
    all_tracks, osd_boxes, text_stats = list(tracker.tracks), [], {}
    if text_pass is not None:
        all_tracks += text_pass.finish(faces=tracker.tracks)
        osd_boxes, text_stats = text_pass.osd_boxes, dict(text_pass.stats)
        for tid, (score, crop) in text_pass.thumbs.items():
            thumbs[tid] = (score, _thumbnail(crop, np.array([0, 0, crop.shape[1], crop.shape[0]], np.float32), 1.0,
                                              pad=1.0))
    return TrackSet(
        source=str(src), fps=fps, frames=n, width=info["width"], height=info["height"], config=config,
        tracks=all_tracks, sha256=sha256, detector=getattr(detector, "name", type(detector).__name__),
        thumbs={k: v[1] for k, v in thumbs.items()}, pts_monotonic=monotonic,
        text=text if text_pass is not None else None, osd_boxes=osd_boxes, text_stats=text_stats,
    )


def _thumbnail(img: np.ndarray, box: np.ndarray, factor: float, pad: float = 1.6) -> np.ndarray:
    """A small crop around a face (box in frame pixels, ``img`` the detector's image)."""
    from skimage.transform import resize

    b = clip_boxes(pad_boxes(box / factor, pad), img.shape[1], img.shape[0])[0]
    crop = img[b[1] : b[3], b[0] : b[2]]
    if crop.size == 0:
        return np.zeros((THUMB, THUMB, 3), np.uint8)
    s = THUMB / max(crop.shape[:2])
    if s < 1:
        shape = (max(1, int(crop.shape[0] * s)), max(1, int(crop.shape[1] * s)))
        crop = (resize(crop, shape, anti_aliasing=True, preserve_range=True)).astype(np.uint8)
    return np.ascontiguousarray(crop)


@dataclass
class RenderResult:
    """What a render wrote and masked."""

    out: str
    source_sha256: str
    frames: int
    fps: float
    masked_frames: dict[int, int]  # track id -> frames masked
    manual_frames: list[int]  # per manual mask: frames masked
    audio_replaced: int  # audio packets (spliced) or 0 when re-encoded
    tracks: TrackSet
    spec: RedactSpec
    metadata: dict[str, str]


def _metadata(source_sha256: str, status: str = "unreleased") -> dict[str, str]:
    return {
        "comment": f"Footage redacted working copy, {status.upper()}; source sha256 {source_sha256}",
        "footage_source_sha256": source_sha256,
        "footage_status": status,
    }


def open_output(out: str | Path, metadata: dict[str, str]):
    """An MP4 that moves its index to the front (faststart) and keeps our own metadata keys."""
    container = av.open(str(out), "w", format="mp4",
                        options={"movflags": "+faststart+use_metadata_tags"})
    container.metadata.update(metadata)
    return container


def add_h264(container, source_stream, crf: int = 20, preset: str = "veryfast"):
    """An H.264 stream with the source's frame rate, size and time base."""
    rate = source_stream.average_rate or source_stream.guessed_rate or 25
    vs = container.add_stream("libx264", rate=rate)
    vs.width, vs.height = source_stream.width, source_stream.height
    vs.pix_fmt = "yuv420p"
    vs.time_base = source_stream.time_base
    vs.codec_context.time_base = source_stream.time_base
    vs.options = {"crf": str(crf), "preset": preset}
    threads = encode_threads()
    if threads:
        vs.codec_context.thread_count = threads
    return vs


def render(
    src: str | Path,
    out: str | Path,
    spec: RedactSpec | None = None,
    progress: Progress | None = None,
    tracks: TrackSet | None = None,
    detector: FaceDetector | None = None,
    source_sha256: str | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> RenderResult:
    """Write a redacted working copy of ``src`` to ``out`` (H.264 + AAC MP4, faststart).

    Every tracked face not in ``spec.keep`` is masked on every frame from its first to its last
    (extended) frame, padded by ``spec.detection.pad``; manual masks cover their box over their
    time range; audio ranges are muted or bleeped. The copy has the source's frame rate, frame
    count and timestamps, and its metadata names the source's sha256 and says "unreleased".

    Parameters
    ----------
    src, out : path
    spec : RedactSpec, optional
    progress : callable, optional
        ``progress(stage, done, total)`` with stage "detect" then "render".
    tracks : TrackSet, optional
        Tracks from :func:`find_tracks` (the ones the archivist saw); found here if omitted.
    """
    spec = spec or RedactSpec()
    source_sha256 = source_sha256 or sha256_file(src)
    if tracks is not None and tracks.sha256 and tracks.sha256 != source_sha256:
        raise ValueError(f"the tracks were found in another file (sha256 {tracks.sha256[:12]}...)")
    if tracks is None:
        tracks = find_tracks(src, spec.detection, detector, progress, sha256=source_sha256,
                             text=spec.text if spec.text.enabled else None)
    unknown = set(spec.keep) - set(tracks.ids())
    if unknown:
        from .spec import track_label

        raise ValueError(f"keep-list names tracks that do not exist: {[track_label(i) for i in sorted(unknown)]}")
    chosen = masked_tracks(tracks, spec)
    faces = TrackIndex(t for t in chosen if t.kind == "face")
    texts = TrackIndex(t for t in chosen if t.kind != "face")
    index = [(faces, spec.detection.pad), (texts, spec.text.pad)]
    # the kept faces (the party): a text mask never covers them
    kept_faces = TrackIndex(t for t in tracks.tracks if t.kind == "face" and t.id in set(spec.keep))
    masked = {t.id: 0 for t in chosen}
    manual = [0] * len(spec.masks)
    metadata = _metadata(source_sha256)
    n = 0
    with av.open(str(src)) as inp, open_output(out, metadata) as outp:
        vin = inp.streams.video[0]
        set_decoder_threads(vin)
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = add_h264(outp, vin, crf, preset)
        audio = AudioRedactor(ain, outp, spec.audio) if ain is not None else None
        step = 1 / (tracks.fps * float(vin.time_base))  # one frame in time-base ticks
        first = None
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            if packet.stream is vin:
                for frame in packet.decode():
                    if first is None:
                        first = frame.pts or 0
                    pts = frame.pts if tracks.pts_monotonic else first + int(round(n * step))
                    _mask_frame(frame, n, pts, index, spec, masked, manual, vout, outp, tracks, kept_faces)
                    n += 1
                    if progress:
                        progress("render", n, tracks.frames)
            elif audio is not None:
                for p in audio.packets(packet):
                    outp.mux(p)
        for p in vout.encode(None):
            outp.mux(p)
        if audio is not None:
            for p in audio.flush():
                outp.mux(p)
    return RenderResult(
        out=str(out), source_sha256=source_sha256, frames=n, fps=tracks.fps,
        masked_frames=masked, manual_frames=manual, audio_replaced=audio.replaced if audio else 0,
        tracks=tracks, spec=spec, metadata=metadata,
    )


def masked_tracks(tracks: TrackSet, spec: RedactSpec) -> list[Track]:
    """The tracks a render masks: faces and third parties' text outside the keep-list; the camera's
    display only with ``spec.text.mask_osd``; text at all only with ``spec.text.enabled``."""
    keep = set(spec.keep)
    out = []
    for t in tracks.tracks:
        if t.id in keep:
            continue
        if t.kind == "osd" and not (spec.text.enabled and spec.text.mask_osd):
            continue
        if t.kind == "text" and not spec.text.enabled:
            continue
        out.append(t)
    return out


def subtract_box(box, hole) -> list[np.ndarray]:
    """``box`` less ``hole`` (both x1, y1, x2, y2): at most four boxes covering the rest of ``box``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h1, h2 = max(x1, float(hole[0])), min(x2, float(hole[2]))
    v1, v2 = max(y1, float(hole[1])), min(y2, float(hole[3]))
    if h1 >= h2 or v1 >= v2:
        return [np.array([x1, y1, x2, y2])]
    parts = [(x1, y1, x2, v1), (x1, v2, x2, y2), (x1, v1, h1, v2), (h2, v1, x2, v2)]
    return [np.array(p) for p in parts if p[2] > p[0] and p[3] > p[1]]


def spare_kept_faces(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Text mask boxes with every kept face's box cut out of them (the party's face stays visible)."""
    out = [np.asarray(b, np.float64) for b in np.asarray(boxes).reshape(-1, 4)]
    for hole in np.asarray(faces).reshape(-1, 4):
        out = [part for b in out for part in subtract_box(b, hole)]
    return np.asarray(out, np.float64).reshape(-1, 4)


def _mask_frame(frame, i, pts, index: list[tuple[TrackIndex, float]], spec: RedactSpec, masked, manual, vout, outp,
                tracks, kept_faces: TrackIndex | None = None) -> None:
    ids, padded = [], []
    for k, (idx, pad) in enumerate(index):
        some, boxes = idx.boxes_at(i)
        if some:
            ids += some
            grown = pad_boxes(boxes, pad)
            if k and kept_faces is not None:  # text masks: the kept faces (their detected boxes) cut out
                _, kept = kept_faces.boxes_at(i)
                if len(kept):
                    grown = spare_kept_faces(grown, kept)
            padded.append(grown)
    boxes = np.concatenate(padded) if padded else np.zeros((0, 4))
    t = float(pts * frame.time_base) if pts is not None else i / tracks.fps
    manual_boxes = []
    for k, m in enumerate(spec.masks):
        if m.start <= t <= m.end:
            manual_boxes.append(m.box)
            manual[k] += 1
    out = frame
    if ids or manual_boxes:
        all_boxes = np.concatenate([boxes,
                                    np.asarray(manual_boxes, np.float64).reshape(-1, 4)])
        clipped = clip_boxes(all_boxes, frame.width, frame.height)
        if _yuv_black_ok(frame, spec):
            out = _black_yuv420p(frame, clipped)
        else:
            img = frame.to_ndarray(format="rgb24")
            apply_masks(img, clipped, spec.style, spec.mosaic_block, spec.color)
            out = av.VideoFrame.from_ndarray(img, format="rgb24")
        for tid in ids:
            masked[tid] += 1
    out.pts, out.time_base = pts, frame.time_base
    for p in vout.encode(out):
        outp.mux(p)


def _yuv_black_ok(frame: av.VideoFrame, spec: RedactSpec) -> bool:
    """Whether a solid black mask can be painted on the decoded planes (no RGB round trip)."""
    return (spec.style == "solid" and tuple(spec.color) == (0, 0, 0) and frame.format.name == "yuv420p"
            and frame.width % 2 == 0 and frame.height % 2 == 0)


def _black_yuv420p(frame: av.VideoFrame, boxes: np.ndarray) -> av.VideoFrame:
    """A copy of a limited-range yuv420p frame with ``boxes`` painted black (Y 16, U = V = 128).

    The same pixels as the RGB path would paint, grown to even coordinates so that the
    half-resolution chroma covers them whole. Saves two colour conversions per masked frame.
    """
    w, h = frame.width, frame.height
    arr = frame.to_ndarray()  # (h * 3 / 2, w): Y, then U and V at half size, row-packed
    y = arr[:h]
    u = arr[h : h + h // 4].reshape(h // 2, w // 2)
    v = arr[h + h // 4 :].reshape(h // 2, w // 2)
    for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4):
        x1, y1 = int(x1) // 2 * 2, int(y1) // 2 * 2
        x2, y2 = min(w, -(-int(x2) // 2) * 2), min(h, -(-int(y2) // 2) * 2)
        if x2 <= x1 or y2 <= y1:
            continue
        y[y1:y2, x1:x2] = 16
        u[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2] = 128
        v[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2] = 128
    out = av.VideoFrame.from_ndarray(arr, format="yuv420p")
    out.color_range = frame.color_range
    out.colorspace = frame.colorspace
    return out
