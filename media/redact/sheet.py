"""Pictures for people: the contact sheet of tracks and the disclosure watermark.

Chinese text needs a CJK font: :func:`media.fonts.cjk_font_path` finds it (Debian's
``fonts-noto-cjk``; ``FOOTAGE_CJK_FONT`` overrides); without one we fall back to Pillow's own font
(Latin only).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from media.fonts import cjk_font_path

from .render import TrackSet, add_h264, open_output
from .spec import track_label
from .text import WHAT

__all__ = ["cjk_font_path", "font", "contact_sheet", "watermark_text", "watermark_overlay",
           "apply_overlay", "watermark_video"]

@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont:
    """A font that draws Chinese at ``size`` px (index 2 of Noto's .ttc is Simplified Chinese)."""
    path = cjk_font_path()
    if path is None:
        return ImageFont.load_default(size)
    try:
        return ImageFont.truetype(str(path), size, index=2 if path.suffix == ".ttc" else 0)
    except OSError:
        return ImageFont.truetype(str(path), size)


def _fmt(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _short(text: str, most: int = 14) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def contact_sheet(tracks: TrackSet, path: str | Path, columns: int = 6, cell: int = 160) -> Path:
    """One image with a thumbnail per track: its id, time range and frames.

    Face tracks come first (yellow ids: 1, 2 ...), then text tracks (cyan ids: T1, T2 ..., with
    the guess of what each is and, in white at the bottom of the picture, what the recogniser read
    and how sure it was; the camera's own display marked "屏显 OSD, kept"): the archivist keeps or
    masks each by its id, and can see a track that is not text and keep it visible. The thumbnails are the crops of each track's most confident detection, kept by
    :func:`media.redact.render.find_tracks`; a track loaded from JSON without them gets a grey cell.
    """
    n = max(1, len(tracks.tracks))
    rows = -(-n // columns)
    label_h, head_h = 44, 40
    sheet = Image.new("RGB", (columns * cell, head_h + rows * (cell + label_h)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    faces = [t for t in tracks.tracks if t.kind == "face"]
    texts = [t for t in tracks.tracks if t.kind != "face"]
    title = f"人脸轨迹 / face tracks: {Path(tracks.source).name}  ({len(faces)})"
    if tracks.text is not None:
        title += f"   文字轨迹 / text tracks: T ({len(texts)})"
    draw.text((8, 8), title, font=font(18), fill=(255, 255, 255))
    small = font(13)
    for k, t in enumerate(faces + texts):
        x0 = (k % columns) * cell
        y0 = head_h + (k // columns) * (cell + label_h)
        thumb = tracks.thumbs.get(t.id)
        if thumb is not None and thumb.size:
            im = Image.fromarray(thumb)
            im.thumbnail((cell - 8, cell - 8))
            sheet.paste(im, (x0 + (cell - im.width) // 2, y0 + (cell - im.height) // 2))
        else:
            draw.rectangle([x0 + 4, y0 + 4, x0 + cell - 4, y0 + cell - 4], fill=(90, 90, 90))
        last = min(t.last, tracks.frames - 1)
        if t.kind == "face":
            draw.text((x0 + 4, y0 + 4), f"#{t.id}", font=font(20), fill=(255, 230, 0), stroke_width=2,
                      stroke_fill=(0, 0, 0))
        else:
            what = "屏显 OSD, kept" if t.kind == "osd" else " / ".join(reversed(WHAT.get(t.what, WHAT["text"])))
            draw.text((x0 + 4, y0 + 4), track_label(t.id), font=font(20), fill=(0, 230, 255),
                      stroke_width=2, stroke_fill=(0, 0, 0))
            draw.text((x0 + 4, y0 + 30), what, font=small, fill=(0, 230, 255), stroke_width=1,
                      stroke_fill=(0, 0, 0))
            # what the recogniser read, so that a false one is seen and kept visible (--keep T3)
            read = f"“{_short(t.text)}”" + (f" {t.read_score:.2f}" if t.read_score else "") if t.text else "“”"
            draw.text((x0 + 4, y0 + cell - 20), read, font=small, fill=(255, 255, 255), stroke_width=2,
                      stroke_fill=(0, 0, 0))
        draw.text((x0 + 4, y0 + cell), f"{_fmt(t.first / tracks.fps)}–{_fmt((last + 1) / tracks.fps)}",
                  font=small, fill=(230, 230, 230))
        draw.text((x0 + 4, y0 + cell + 20), f"帧 frames {t.first}–{last} ({t.hits} det)", font=small,
                  fill=(180, 180, 180))
    path = Path(path)
    sheet.save(path)
    return path


def watermark_text(name: str, when: date | str) -> tuple[str, str]:
    """The visible notice, zh-CN and en."""
    day = when.isoformat() if isinstance(when, date) else str(when)
    return (f"{day} 向 {name} 提供，不得公开发布",
            f"disclosed to {name} on {day}, not for publication")


def watermark_overlay(width: int, height: int, name: str, when: date | str,
                      avoid: list[tuple[int, int, int, int]] | None = None) -> np.ndarray:
    """An RGBA layer with the notice in both languages, twice (top band and across the middle).

    Drawn once and blended into every frame: the text is where it cannot be cropped off without
    losing the picture. ``avoid``: boxes the band must not cover (the camera's own display, kept
    as the record's provenance); the band moves to the bottom when the top would cover one.
    """
    zh, en = watermark_text(name, when)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, width // 40)
    f = font(size)
    band = int(size * 2.8)
    top = 0
    boxes = [tuple(b) for b in (avoid or [])]
    if any(b[1] < band for b in boxes) and not any(b[3] > height - band for b in boxes):
        top = height - band
    draw.rectangle([0, top, width, top + band], fill=(0, 0, 0, 140))
    draw.text((size // 2, top + size // 4), zh, font=f, fill=(255, 255, 255, 255))
    draw.text((size // 2, top + size // 4 + int(size * 1.3)), en, font=f, fill=(255, 255, 255, 255))
    mid = height // 2
    draw.text((width // 2, mid), f"{zh}\n{en}", font=f, fill=(255, 255, 255, 110), anchor="mm",
              align="center", stroke_width=1, stroke_fill=(0, 0, 0, 110))
    return np.asarray(layer)


def apply_overlay(image: np.ndarray, overlay: np.ndarray) -> np.ndarray:
    """Alpha-blend an RGBA overlay onto an RGB uint8 image (returns a new array)."""
    alpha = overlay[..., 3:4].astype(np.float32) / 255
    out = image.astype(np.float32) * (1 - alpha) + overlay[..., :3].astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def watermark_video(src: str | Path, out: str | Path, name: str, when: date | str,
                    metadata: dict[str, str] | None = None, crf: int = 20, preset: str = "veryfast",
                    avoid: list[tuple[int, int, int, int]] | None = None) -> Path:
    """Re-encode ``src`` with the visible notice on every frame; audio is copied untouched.

    ``avoid``: boxes the notice's band keeps clear of (see :func:`watermark_overlay`)."""
    with av.open(str(src)) as inp, open_output(out, {**_ours(inp.metadata), **(metadata or {})}) as outp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = add_h264(outp, vin, crf, preset)
        aout = outp.add_stream_from_template(ain) if ain is not None else None
        overlay = watermark_overlay(vin.width, vin.height, name, when, avoid)
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            if packet.stream is vin:
                for frame in packet.decode():
                    img = apply_overlay(frame.to_ndarray(format="rgb24"), overlay)
                    nf = av.VideoFrame.from_ndarray(img, format="rgb24")
                    nf.pts, nf.time_base = frame.pts, frame.time_base
                    for p in vout.encode(nf):
                        outp.mux(p)
            elif packet.dts is not None:
                packet.stream = aout
                outp.mux(packet)
        for p in vout.encode(None):
            outp.mux(p)
    return Path(out)


def _ours(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.startswith("footage_") or k == "comment"}
