"""Clips made for the redaction tests: a real face (scikit-image's astronaut) pasted at known,
moving positions over a textured background, with an AAC sound track of known content."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

FPS = 25
W, H = 320, 240
SR = 48000


def shared_root() -> Path:
    root = os.environ.get("FOOTAGE_SHARED")
    return Path(root) if root else Path(__file__).resolve().parents[2].parent / "shared"


def face_patch(height: int) -> np.ndarray:
    """The astronaut's head with a little margin (the face itself is ~60% of the patch)."""
    crop = data.astronaut()[28:208, 150:300]  # face box in the full image: (182, 58)-(270, 178)
    width = int(round(height * crop.shape[1] / crop.shape[0]))
    return (resize(crop, (height, width), anti_aliasing=True, preserve_range=True)).astype(np.uint8)


@dataclass
class Face:
    """A pasted face moving linearly from ``start`` to ``end`` (top-left corners, pixels)."""

    start: tuple[float, float]
    end: tuple[float, float]
    height: int = 90
    first: int = 0  # first frame it is on screen
    last: int | None = None  # last frame (inclusive); None = to the end
    flip: bool = False
    patch: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.patch = face_patch(self.height)
        if self.flip:
            self.patch = self.patch[:, ::-1]

    def box(self, i: int, n: int) -> tuple[int, int, int, int] | None:
        """Box of the whole pasted patch at frame ``i`` of ``n``, or None when off screen."""
        last = n - 1 if self.last is None else self.last
        if not self.first <= i <= last:
            return None
        u = (i - self.first) / max(1, last - self.first)
        x = int(round(self.start[0] + u * (self.end[0] - self.start[0])))
        y = int(round(self.start[1] + u * (self.end[1] - self.start[1])))
        h, w = self.patch.shape[:2]
        return x, y, x + w, y + h

    def face_box(self, i: int, n: int) -> tuple[int, int, int, int] | None:
        """The inner face region (eyes to chin) of the patch: what must be masked."""
        b = self.box(i, n)
        if b is None:
            return None
        h, w = self.patch.shape[:2]
        x, y = b[0], b[1]
        # Face box (182,58)-(270,178) inside the 150..300 x 28..208 crop, scaled.
        s = h / 180
        fx1, fx2 = (182 - 150) * s, (270 - 150) * s
        if self.flip:
            fx1, fx2 = w - fx2, w - fx1
        return int(x + fx1), int(y + (58 - 28) * s), int(x + fx2), int(y + (178 - 28) * s)


def background(i: int) -> np.ndarray:
    """A fixed texture (so the codec has something to do) with a slow horizontal drift."""
    rng = np.random.default_rng(7)
    base = rng.integers(60, 200, size=(H // 8, W // 8 + 8, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), np.uint8))
    off = i % 64
    return np.ascontiguousarray(big[:, off : off + W])


def audio_signal(n: int) -> np.ndarray:
    t = np.arange(n) / SR
    return (0.25 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1330 * t)).astype(np.float32)


def make_clip(path: Path, faces: list[Face], frames: int = 60, audio: bool = True) -> Path:
    """Write an H.264 + AAC-LC MP4 with ``faces`` pasted on every frame."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        if audio:
            # PNS off: the splice test compares decoded samples exactly (see media/redact/audio.py).
            aus = c.add_stream("aac", rate=SR, layout="mono", options={"aac_pns": "0"})
            samples = audio_signal(int(frames / FPS * SR))
            for k in range(0, len(samples), 1024):
                af = av.AudioFrame.from_ndarray(samples[None, k : k + 1024], format="flt", layout="mono")
                af.sample_rate, af.pts = SR, k
                for p in aus.encode(af):
                    c.mux(p)
        for i in range(frames):
            img = background(i)
            for f in faces:
                b = f.box(i, frames)
                if b is None:
                    continue
                x1, y1, x2, y2 = b
                px1, py1 = max(0, -x1), max(0, -y1)
                x1c, y1c, x2c, y2c = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
                if x2c > x1c and y2c > y1c:
                    img[y1c:y2c, x1c:x2c] = f.patch[py1 : py1 + y2c - y1c, px1 : px1 + x2c - x1c]
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if audio:
            for p in aus.encode(None):
                c.mux(p)
    return path


def decode_rgb(path: Path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def decode_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


@pytest.fixture(scope="session")
def two_faces_clip(tmp_path_factory):
    """Two faces, apart; the first crosses the frame, the second enters late and leaves early."""
    faces = [
        Face(start=(10, 20), end=(150, 60), height=100),
        Face(start=(250, 150), end=(235, 140), height=80, first=12, last=47, flip=True),
    ]
    path = make_clip(tmp_path_factory.mktemp("clips") / "two_faces.mp4", faces, frames=60)
    return path, faces, 60
