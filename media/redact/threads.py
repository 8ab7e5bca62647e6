"""How the stages of a redaction share the CPU.

A pass runs one heavy stage at a time: detection (find_tracks, QA) or encoding (render). Before
issue 15 every stage asked for all cores at once: onnxruntime's default intra-op pool, FFmpeg's
automatic frame threads for decoding (cores + 1) and libx264's automatic threads (1.5 x cores),
so on two cores three pools of two or more threads fought over each frame. Now:

* decoding is single-threaded: H.264 decoding costs a few ms a frame even at 1080p, next to
  hundreds for detection or tens for encoding, and its frame threads would take a core from them;
* onnxruntime gets every core the process may use, without spinning (media/redact/detect.py);
* libx264 gets every core too: the render detects nothing (tracks come from the first pass), so
  the encoder is its heavy stage.

Each default can be overridden by an environment variable: ``FOOTAGE_ORT_THREADS``,
``FOOTAGE_DECODE_THREADS``, ``FOOTAGE_ENCODE_THREADS`` (0 = the library's own automatic choice).
"""

from __future__ import annotations

import os

__all__ = ["cores", "ort_threads", "decode_threads", "encode_threads", "set_decoder_threads"]


def cores() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def ort_threads() -> int:
    return _env("FOOTAGE_ORT_THREADS", cores())


def decode_threads() -> int:
    return _env("FOOTAGE_DECODE_THREADS", 1)


def encode_threads() -> int:
    return _env("FOOTAGE_ENCODE_THREADS", cores())


def set_decoder_threads(stream) -> None:
    """Apply :func:`decode_threads` to a PyAV input video stream before its first packet."""
    n = decode_threads()
    stream.codec_context.thread_count = n
    if n != 1:
        stream.thread_type = "AUTO"
