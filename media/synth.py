"""Deterministic synthetic footage made with PyAV, for the demo, tests and benchmarks.

Frames are a moving gradient with a little seeded noise (so encoders work as on real footage),
audio a quiet tone with seeded noise. Everything is streamed to the encoder frame by frame.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(
    path: Path | str,
    seconds: float,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    audio: bool = True,
    sample_rate: int = 16000,
    codec: str = "libx264",
    container_format: str | None = None,
    creation_time: datetime | None = None,
    faststart: bool = False,
    seed: int = 0,
    gop: int | None = None,
) -> Path:
    """Write a clip of ``seconds`` seconds and return its path.

    Parameters
    ----------
    path : path-like
        Output file; the container follows its suffix unless ``container_format`` is given.
    seconds : float
        Duration.
    width, height, fps : int
        Picture size and frame rate.
    audio : bool
        Add an AAC (MP4/MKV) or MP3 (AVI) audio stream.
    creation_time : datetime, optional
        Written as the container's ``creation_time`` tag (UTC, ISO 8601).
    faststart : bool
        Put the MP4 index first; the default leaves it at the end, as cameras do.
    seed : int
        Seed of the noise, so the same arguments give the same bytes.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format=container_format, options=options) as out:
        if creation_time is not None:
            out.metadata["creation_time"] = creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = width, height
        vs.pix_fmt = "yuv420p"
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
            vs.codec_context.gop_size = gop or fps
        elif gop:
            vs.codec_context.gop_size = gop
        as_ = None
        if audio:
            acodec = "libmp3lame" if path.suffix.lower() == ".avi" else "aac"
            as_ = out.add_stream(acodec, rate=sample_rate)
            as_.layout = "mono"
        nframes = int(round(seconds * fps))
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(nframes):
            base = (xx + 3 * i + yy // 2) % 256
            img = np.stack([base, (yy + 2 * i) % 256, 255 - base], axis=-1).astype(np.int16)
            img += rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if as_ is not None:
            _write_tone(out, as_, seconds, sample_rate, rng)
    return path


def _write_tone(out, stream, seconds: float, rate: int, rng: np.random.Generator) -> None:
    ctx = stream.codec_context
    chunk = ctx.frame_size or 1152
    total = int(seconds * rate)
    t0 = 0
    fmt = ctx.format.name if ctx.format else "fltp"
    while t0 < total:
        n = min(chunk, total - t0)
        t = (np.arange(t0, t0 + n) / rate).astype(np.float32)
        samples = 0.05 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n).astype(np.float32)
        arr = _as_format(samples, fmt).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = t0
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
        t0 += n
    for packet in stream.encode():
        out.mux(packet)


def _as_format(samples: np.ndarray, fmt: str) -> np.ndarray:
    if fmt.startswith("s16"):
        return (samples * 32767).astype(np.int16)
    if fmt.startswith("s32"):
        return (samples * 2147483647).astype(np.int32)
    return samples.astype(np.float32)


def truncate(path: Path | str, keep_fraction: float = 0.5) -> Path:
    """Cut a file short in place, as a camera losing power mid-write would leave it."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path
