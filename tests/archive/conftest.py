"""Clips for the archive tests: small ones made here with PyAV, real ones from the shared footage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


@pytest.fixture(scope="session")
def footage(shared_video):
    """Path of a real clip under the shared footage; skips when the footage is absent."""

    def get(name: str) -> Path:
        p = shared_video / name
        if not p.is_file():
            pytest.skip(f"shared footage {p} not present (set FOOTAGE_SHARED)")
        return p

    return get


def picture(i: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A moving gradient with seeded noise, RGB ``(h, w, 3)``: content encoders must really work on."""
    rng = np.random.default_rng(seed + i)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx + 3 * i + yy // 2) % 256
    img = np.stack([base, (yy + 2 * i) % 256, 255 - base], axis=-1).astype(np.int16)
    img += rng.integers(-8, 9, size=(height, width, 1), dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    *,
    codec: str,
    pix_fmt: str,
    seconds: float = 1.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    audio: str | None = None,
    rate: int = 16000,
    fmt: str | None = None,
    color_range: int | None = None,
) -> Path:
    """Write a small clip, video and audio interleaved; ``audio`` names the audio encoder."""
    w, h = size
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if color_range is not None:
            vs.codec_context.color_range = color_range
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "bf": "0"}
        a = None
        if audio:
            a = out.add_stream(audio, rate=rate)
            a.layout = "mono"
        afmt = a.codec_context.format.name if a is not None else None
        chunk = (a.codec_context.frame_size or 1024) if a is not None else 0
        t_audio = 0
        rng = np.random.default_rng(7)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture(i, w, h), format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_color_range=color_range)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            if color_range is not None:
                frame.color_range = color_range
            out.mux(vs.encode(frame))
            while a is not None and t_audio < (i + 1) * rate // fps:
                t = np.arange(t_audio, t_audio + chunk) / rate
                x = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(chunk)
                if afmt.startswith("s16"):
                    arr = (x * 32767).astype(np.int16)
                else:
                    arr = x.astype(np.float32)
                af = av.AudioFrame.from_ndarray(arr.reshape(1, -1), format=afmt, layout="mono")
                af.sample_rate, af.pts, af.time_base = rate, t_audio, Fraction(1, rate)
                out.mux(a.encode(af))
                t_audio += chunk
        out.mux(vs.encode(None))
        if a is not None:
            out.mux(a.encode(None))
    return path


@pytest.fixture(scope="session")
def head():
    """``head(source, dest, seconds)``: see :func:`stream_copy_head`."""
    return stream_copy_head


def stream_copy_head(source: Path, dest: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``source``, stream-copied into the same container format.

    The bitstream is the camera's own (nothing decoded or re-encoded); it only stops early, so
    tests on long real clips stay short.
    """
    with av.open(str(source)) as inp, av.open(str(dest), "w", format=inp.format.name.split(",")[0]) as out:
        m = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for p in inp.demux([inp.streams[i] for i in m]):
            if p.dts is None:
                continue
            if p.pts is not None and p.time_base and float(p.pts * p.time_base) >= seconds:
                continue
            p.stream = m[p.stream.index]
            out.mux(p)
    return dest


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Generated sources, made once per session."""
    d = tmp_path_factory.mktemp("clips")
    return {
        # webcam style: MJPEG full-range pixels, 16-bit PCM sound, in AVI
        "mjpeg_pcm_avi": write_clip(d / "mjpeg.avi", codec="mjpeg", pix_fmt="yuvj420p", audio="pcm_s16le", color_range=2),
        # a modern camera: H.264 + AAC in MP4
        "h264_aac_mp4": write_clip(d / "cam.mp4", codec="libx264", pix_fmt="yuv420p", audio="aac"),
        # a broadcast-style recorder: H.264 + AAC in MPEG-TS (Annex B start codes, ADTS headers)
        "h264_aac_ts": write_clip(d / "rec.ts", codec="libx264", pix_fmt="yuv420p", audio="aac", fmt="mpegts"),
    }
