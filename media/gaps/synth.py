"""Labelled synthetic clips: known black, frozen, silent, dropped and spoken stretches.

:func:`make_clip` writes a clip with PyAV from a :class:`ClipSpec` and returns the true
intervals, so detectors can be scored against them (tests, benchmarks, demos). The picture is a
textured pattern that moves every frame (never still, never dark) except where the spec asks for
black (limited-range level 16, or full-range 0, plus sensor-like noise up to 12 levels) or a
freeze (one frame repeated). The sound is pink noise ("ambient", -30 dBFS RMS by default, never
silent, never speech) with digital silence, short dropouts and speech files laid in as asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

Interval = tuple[float, float]


@dataclass
class ClipSpec:
    """What to put in a synthetic clip. Intervals are (start, end) seconds from the start."""

    duration: float = 20.0
    width: int = 320
    height: int = 240
    fps: int = 25
    black: list[Interval] = field(default_factory=list)
    freeze: list[Interval] = field(default_factory=list)
    drop: list[Interval] = field(default_factory=list)  # video frames left out
    full_range: bool = False
    audio: bool = True
    audio_rate: int = 48000
    channels: int = 1
    ambient_db: float | None = -30.0  # None: digital silence throughout
    silence: list[Interval] = field(default_factory=list)  # digital zero
    dropouts: list[Interval] = field(default_factory=list)  # digital zero, short
    speech: list[tuple[float, str]] = field(default_factory=list)  # (start, sound file)
    speech_db: float = -18.0  # RMS of the speech's active part
    audio_end: float | None = None  # sound stops early (duration mismatch)
    chapters: list[tuple[float, float, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    codec: str = "libx264"
    preset: str = "ultrafast"
    black_noise: int = 12  # black pictures: level 16 (or 0) plus up to this much noise
    noise: int = 0  # sensor-like noise on the moving picture, +- levels (raises the bit rate)
    seed: int = 0


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of pink (1/f) noise with unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(spectrum), dtype=np.float64)
    k[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(k), n)
    return x / np.sqrt(np.mean(x**2))


def read_sound(path: str | Path, rate: int) -> np.ndarray:
    """A sound file as mono float32 at ``rate`` (a short file: read whole)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts)


def active_span(x: np.ndarray, rate: int, below_peak_db: float = 30.0) -> Interval:
    """First and last instant of ``x`` whose 20 ms RMS is within ``below_peak_db`` of the loudest."""
    w = max(1, rate // 50)
    n = len(x) // w
    rms = np.sqrt(np.mean(x[: n * w].reshape(n, w) ** 2, axis=1))
    on = np.flatnonzero(rms >= rms.max() * 10 ** (-below_peak_db / 20))
    return on[0] * w / rate, (on[-1] + 1) * w / rate


def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(60, 200, size=(h // 8 + 1, w // 8 + 1)).astype(np.uint8)
    tex = np.kron(base, np.ones((8, 8), np.uint8))[:h, :w]
    ramp = np.linspace(0, 30, w, dtype=np.float32)[None, :]
    return np.clip(tex + ramp, 0, 235).astype(np.uint8)


def _inside(t: float, intervals: list[Interval]) -> Interval | None:
    return next((iv for iv in intervals if iv[0] <= t < iv[1]), None)


def _sound(spec: ClipSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, list[Interval]]]:
    rate = spec.audio_rate
    length = spec.audio_end if spec.audio_end is not None else spec.duration
    n = int(round(length * rate))
    labels: dict[str, list[Interval]] = {"speech": []}
    if spec.ambient_db is None:
        x = np.zeros(n, np.float32)
    else:
        x = (pink_noise(n, rng) * 10 ** (spec.ambient_db / 20)).astype(np.float32)
    for start, file in spec.speech:
        voice = read_sound(file, rate)
        a, b = active_span(voice, rate)
        active = voice[int(a * rate) : int(b * rate)]
        voice = voice * (10 ** (spec.speech_db / 20) / np.sqrt(np.mean(active**2)))
        i = int(start * rate)
        voice = voice[: max(0, n - i)]
        x[i : i + len(voice)] += voice
        labels["speech"].append((round(float(start + a), 3), round(float(min(start + b, length)), 3)))
    for a, b in spec.silence + spec.dropouts:
        x[int(a * rate) : int(b * rate)] = 0.0
    np.clip(x, -1, 1, out=x)
    return x, labels


def make_clip(path: str | Path, spec: ClipSpec) -> dict[str, list[Interval]]:
    """Write the clip described by ``spec`` to ``path``; return its true intervals by kind.

    Returns
    -------
    labels : dict
        ``black``, ``freeze``, ``silence``, ``audio_dropout``, ``dropped_frames`` and ``speech``
        intervals in seconds from the start, plus ``marker`` for chapters. Speech intervals run
        from the first to the last loud instant of each laid-in file.
    """
    rng = np.random.default_rng(spec.seed)
    h, w = spec.height, spec.width
    labels: dict[str, list[Interval]] = {
        "black": list(spec.black),
        "freeze": list(spec.freeze),
        "silence": list(spec.silence),
        "audio_dropout": list(spec.dropouts),
        "dropped_frames": list(spec.drop),
        "marker": [(a, b) for a, b, _ in spec.chapters],
    }
    with av.open(str(path), "w") as out:
        for key, value in spec.tags.items():
            out.metadata[key] = value
        if spec.chapters:
            out.set_chapters([
                {"id": i + 1, "start": int(a * 1000), "end": int(b * 1000), "time_base": Fraction(1, 1000),
                 "metadata": {"title": title}}
                for i, (a, b, title) in enumerate(spec.chapters)
            ])
        video = out.add_stream(spec.codec, rate=spec.fps)
        video.width, video.height = w, h
        video.pix_fmt = "yuvj420p" if spec.full_range else "yuv420p"
        if spec.codec == "libx264":
            video.options = {"preset": spec.preset}
        audio = None
        sound = None
        if spec.audio:
            sound, speech = _sound(spec, rng)
            labels["speech"] = speech["speech"]
            audio = out.add_stream("aac", rate=spec.audio_rate)
            audio.layout = "mono" if spec.channels == 1 else "stereo"
            audio.time_base = Fraction(1, spec.audio_rate)
        else:
            labels["speech"] = []
        tex = _texture(h, w * 2, rng)
        chroma = np.full((h // 2, w), 128, np.uint8)
        held: np.ndarray | None = None
        written = 0  # sound samples written: sound is interleaved with the pictures

        def sound_until(t: float) -> None:
            nonlocal written
            if audio is None or sound is None:
                return
            stop = len(sound) if t == float("inf") else min(len(sound), int(t * spec.audio_rate))
            while written + 1024 <= stop or (t == float("inf") and written < len(sound)):
                chunk = sound[written : written + 1024]
                arr = np.ascontiguousarray(np.tile(chunk, (spec.channels, 1)), np.float32)
                frame = av.AudioFrame.from_ndarray(arr, format="fltp", layout=audio.layout.name)
                frame.sample_rate = spec.audio_rate
                frame.pts = written
                frame.time_base = audio.time_base
                out.mux(audio.encode(frame))
                written += len(chunk)

        nframes = int(round(spec.duration * spec.fps))
        for i in range(nframes):
            t = i / spec.fps
            sound_until(t)
            if _inside(t, spec.drop):
                continue
            frozen = _inside(t, spec.freeze)
            if _inside(t, spec.black):
                low = 0 if spec.full_range else 16
                y = rng.integers(low, low + spec.black_noise + 1, size=(h, w), dtype=np.uint8)
            elif frozen and held is not None:
                y = held
            else:
                shift = (i * 3) % w
                y = tex[:, shift : shift + w].copy()
                y[(i * 2) % h : (i * 2) % h + 8, :] = 230  # a moving bar
                if spec.noise:
                    y = (y + rng.integers(-spec.noise, spec.noise + 1, size=(h, w), dtype=np.int16)).astype(np.uint8)
            held = y if frozen else None
            frame = av.VideoFrame.from_ndarray(np.vstack([y, chroma]), format=video.pix_fmt)
            frame.pts = i
            frame.time_base = Fraction(1, spec.fps)
            out.mux(video.encode(frame))
        sound_until(float("inf"))
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    return labels
