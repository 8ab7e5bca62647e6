"""Small shared pieces: errors, the progress callback type, all-or-nothing output files."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from ..probe import sha256_file

#: ``progress(stage, done, total)``: ``stage`` is ``"transcode"``, ``"remux"``, ``"access"`` or
#: ``"verify"``; ``done`` and ``total`` are seconds of media (``total`` may be 0 when unknown).
Progress = Callable[[str, float, float], None]

PARTIAL = ".partial"


class ArchiveError(Exception):
    """The archive output could not be made; nothing was left at the destination."""


class VerificationError(ArchiveError):
    """A master does not reproduce its source exactly."""


def _noop(stage: str, done: float, total: float) -> None:
    pass


@contextmanager
def atomic_output(dest: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` only if the block succeeds.

    The temporary file is hidden (``.NAME.<id>.partial``) and removed on any exception,
    ``KeyboardInterrupt`` included, so an interrupted transcode leaves nothing behind that could
    be taken for a finished master. The file is flushed to disk before the rename.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise ArchiveError(f"{dest} exists; archive outputs are written once")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}{PARTIAL}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def stale_partials(directory: Path | str) -> list[Path]:
    """Temporary files a killed process (``SIGKILL``, power loss) could not remove."""
    return sorted(Path(directory).glob(f".*{PARTIAL}"))


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file, as ``sha256sum`` computes it."""
    return sha256_file(path)


def codec_name(codec_context) -> str:
    """FFmpeg's codec name (``mp3``), not the decoder's (``mp3float``)."""
    codec = getattr(codec_context, "codec", None)
    return getattr(codec, "canonical_name", None) or codec_context.name
