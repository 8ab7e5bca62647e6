"""Benchmark clips in shapes the shared footage lacks, cut with PyAV from ``../shared/footage``.

* ``stage_360p``: 640x360, 25 fps, three shots joined by hard cuts (the 1080p crowd scaled down,
  so its faces are 8-20 px; the juggler; a tight face crop), with speech (AAC) under it.
* ``portrait_720p``: 720x1280 (phone held upright), 25 fps, two shots (a 9:16 slice of the crowd,
  of the juggler), with speech (AAC).
* ``crowd_1080p``: the shared 1080p crowd clip itself (no copy).
* ``smoke_clip``: the first 30 frames of ``stage_360p``, for the smoke runs of the redaction
  benchmarks (not in ``CLIPS``).

Made once into ``benchmarks/.cache`` (deterministic: same source frames, same encoder settings),
never into the repository.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
SHARED = Path(os.environ.get("FOOTAGE_SHARED", ROOT.parent / "shared"))
VIDEO = SHARED / "footage" / "video"
CROWD = VIDEO / "facenet-pytorch__video.mp4"
JUGGLE = VIDEO / "sam2__05_default_juggle.mp4"
FACE = VIDEO / "LivePortrait__d6.mp4"
SPEECH = SHARED / "footage" / "audio" / "faster-whisper__jfk.flac"
FPS = 25


def _frames(src: Path, first: int, count: int, crop=None, size=None):
    """``count`` RGB frames of ``src`` from ``first``, cropped (x, y, w, h) then resized (w, h)."""
    with av.open(str(src)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i < first:
                continue
            if i >= first + count:
                break
            if crop is not None:
                x, y, w, h = crop
                img = f.to_ndarray(format="rgb24")[y : y + h, x : x + w]
                f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if size is not None:
                f = f.reformat(width=size[0], height=size[1], format="rgb24", interpolation="BICUBIC")
            yield f.to_ndarray(format="rgb24")


def _write(path: Path, shots, width: int, height: int) -> Path:
    tmp = path.with_suffix(".part.mp4")
    frames = [img for shot in shots for img in shot]
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"crf": "18", "preset": "fast", "g": "50"}
        if SPEECH.is_file():
            aus = out.add_stream("aac", rate=48000, layout="mono")
            res = av.AudioResampler(format="fltp", layout="mono", rate=48000, frame_size=1024)
            need, done = len(frames) / FPS * 48000, 0
            with av.open(str(SPEECH)) as a:
                for frame in a.decode(audio=0):
                    frame.pts = None
                    for rf in res.resample(frame):
                        if done < need:
                            rf.pts = done
                            done += rf.samples
                            for p in aus.encode(rf):
                                out.mux(p)
            for p in aus.encode(None):
                out.mux(p)
        for n, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = n, Fraction(1, FPS)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    tmp.rename(path)
    return path


def stage_360p() -> Path:
    path = CACHE / "stage_640x360.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        size = (640, 360)
        _write(path, [
            _frames(CROWD, 0, 48, size=size),
            _frames(JUGGLE, 60, 48, size=size),
            _frames(FACE, 0, 48, crop=(0, 105, 480, 270), size=size),
        ], *size)
    return path


def portrait_720p() -> Path:
    path = CACHE / "portrait_720x1280.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        size = (720, 1280)
        _write(path, [
            _frames(CROWD, 40, 48, crop=(656, 0, 608, 1080), size=size),
            _frames(JUGGLE, 0, 48, crop=(438, 0, 405, 720), size=size),
        ], *size)
    return path


def crowd_1080p() -> Path:
    return CROWD


def smoke_clip() -> Path:
    """The first 30 frames of the 360p stage clip, with speech: for the redaction smoke runs."""
    path = CACHE / "smoke_640x360_30f_v2.mp4"
    if not path.exists():
        _write(path, [_frames(stage_360p(), 0, 30)], 640, 360)
    return path


CLIPS = {"crowd_1080p": crowd_1080p, "stage_360p": stage_360p, "portrait_720p": portrait_720p}


if __name__ == "__main__":
    for name, make in CLIPS.items():
        print(name, make())
