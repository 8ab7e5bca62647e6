"""Clips with a burned-in camera display (OSD), for tests and benchmarks.

The picture is a moving gradient with seeded noise and a few moving blocks (so encoders work
as on real footage); the display is drawn with Pillow in the Noto CJK font (Debian's
``fonts-noto-cjk``, as :func:`media.redact.sheet.font` finds it), white with a black outline as
cameras draw it. What the display shows at each moment follows from the spec alone, so tests can
state what they planted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from media.redact.sheet import font

__all__ = ["OsdClipSpec", "osd_lines", "shown_time", "make_osd_clip", "WEEKDAYS"]

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass
class OsdClipSpec:
    """What to draw and encode.

    Attributes
    ----------
    seconds, width, height, fps
        Length and picture.
    start : datetime
        Wall-clock time on screen at the first picture (naive, the camera's zone).
    layout : str
        ``"dashed"`` (2026-11-03 09:15:00), ``"slashed"`` (2026/11/03 09:15:00) or
        ``"compact"`` (20261103 091500).
    weekday : bool
        Draw the weekday in Chinese (星期二) between date and time.
    device, officer : str or None
        Numbers drawn on a second line as ``设备:<device> 警号:<officer>``.
    jumps : list of (at, seconds)
        From presentation time ``at`` on, the clock shows ``seconds`` more (a cut or reset).
    bottom : bool
        Draw the display at the bottom left instead of the top left.
    font_px : int, optional
        Text size; a 22nd of the picture height by default.
    creation_time : datetime, optional
        Container ``creation_time`` tag (aware).
    audio : bool
        Add a quiet AAC tone.
    """

    seconds: float = 12.0
    width: int = 640
    height: int = 360
    fps: int = 10
    start: datetime = datetime(2026, 11, 3, 9, 15, 0)
    layout: str = "dashed"
    weekday: bool = True
    device: str | None = "DSJ-A12345"
    officer: str | None = "012345"
    jumps: list[tuple[float, float]] = field(default_factory=list)
    bottom: bool = False
    font_px: int | None = None
    creation_time: datetime | None = None
    audio: bool = False
    preset: str = "veryfast"
    seed: int = 0


def shown_time(spec: OsdClipSpec, t: float) -> datetime:
    """The time on screen at presentation time ``t``: whole seconds, plus the jumps passed."""
    extra = sum(d for at, d in spec.jumps if t >= at)
    return spec.start + timedelta(seconds=math.floor(t + 1e-9) + extra)


def osd_lines(spec: OsdClipSpec, t: float) -> list[str]:
    """The display's lines at presentation time ``t``."""
    now = shown_time(spec, t)
    date = {"dashed": "%Y-%m-%d", "slashed": "%Y/%m/%d", "compact": "%Y%m%d"}[spec.layout]
    clock = "%H%M%S" if spec.layout == "compact" else "%H:%M:%S"
    parts = [now.strftime(date)] + ([WEEKDAYS[now.weekday()]] if spec.weekday else []) + [now.strftime(clock)]
    lines = [" ".join(parts)]
    ids = ([f"设备:{spec.device}"] if spec.device else []) + ([f"警号:{spec.officer}"] if spec.officer else [])
    if ids:
        lines.append(" ".join(ids))
    return lines


def _overlay(lines: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """The display drawn on a transparent canvas: (RGB, alpha in [0, 1])."""
    f = font(size)
    stroke = max(1, size // 12)
    height = int(len(lines) * size * 1.35) + 2 * stroke
    width = int(max(f.getlength(line) for line in lines)) + 4 * stroke + 4
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((2 * stroke, stroke + i * size * 1.35), line, font=f, fill=(255, 255, 255, 255),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(canvas, np.float32)
    return rgba[..., :3], rgba[..., 3:] / 255


def _background(spec: OsdClipSpec, i: int, grid: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    yy, xx = grid
    base = (xx + 3 * i + yy // 2) % 256
    img = np.stack([base // 2 + 40, (yy + 2 * i) % 200 + 30, 200 - base // 2], axis=-1).astype(np.float32)
    for k in range(3):  # moving blocks: a scene that changes
        x = int((spec.width * (0.2 + 0.3 * k) + 7 * i * (k + 1)) % spec.width)
        y = int(spec.height * (0.3 + 0.2 * k))
        img[y : y + spec.height // 8, x : x + spec.width // 10] = (220 - 60 * k, 90 + 50 * k, 60)
    img += rng.integers(-5, 6, size=(spec.height, spec.width, 1))
    return img


def make_osd_clip(path: str | Path, spec: OsdClipSpec) -> Path:
    """Encode ``spec`` as H.264 (B-frames, as cameras write) in MP4 and return the path."""
    path = Path(path)
    rng = np.random.default_rng(spec.seed)
    size = spec.font_px or max(12, spec.height // 22)
    margin = max(8, spec.height // 40)
    grid = np.mgrid[0 : spec.height, 0 : spec.width]
    cache: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
    with av.open(str(path), mode="w") as out:
        if spec.creation_time is not None:
            out.metadata["creation_time"] = spec.creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        vs.options = {"preset": spec.preset, "crf": "23"}
        vs.codec_context.gop_size = 2 * spec.fps
        astream = None
        if spec.audio:  # every stream is added before the first packet is written
            astream = out.add_stream("aac", rate=16000)
            astream.layout = "mono"
        for i in range(int(round(spec.seconds * spec.fps))):
            t = i / spec.fps
            lines = tuple(osd_lines(spec, t))
            if lines not in cache:
                cache = {lines: _overlay(list(lines), size)}  # the display changes once a second
            rgb, alpha = cache[lines]
            img = _background(spec, i, grid, rng)
            h, w = alpha.shape[:2]
            y0 = spec.height - margin - h if spec.bottom else margin
            region = img[y0 : y0 + h, margin : margin + w]
            region[:] = region * (1 - alpha[: region.shape[0], : region.shape[1]]) + (rgb * alpha)[: region.shape[0], : region.shape[1]]
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, spec.fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            from media.synth import _write_tone

            _write_tone(out, astream, spec.seconds, 16000, rng)
    return path
