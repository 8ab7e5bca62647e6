"""A record's derivatives: the verified archive master (per the format policy) and the access copy.

:func:`archive_recording` writes both into a work directory, proves the master lossless, and
returns their paths and SHA-256 (:class:`ArchiveOutputs`) so the store step can keep them beside
the original (:func:`records.keys.derivative_key`, same retention). A master that fails
verification raises :class:`media.archive.ArchiveError`; the original is untouched, and the error
says which stream and frame differ.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from media.archive import (
    Action,
    ArchiveResult,
    ArchiveSettings,
    Progress,
    decide,
    make_access,
    make_master,
    master_tags,
)
from media.archive.estimate import archive_scratch
from media.gaps.qc import QCResult, analyse
from media.gaps.settings import GapSettings
from media.model import Recording

CONTENT_TYPES = {"master": "video/x-matroska", "access": "video/mp4"}


class ArchiveOutputs(BaseModel):
    """What the archive step made for one original."""

    source_sha256: str
    action: str | None  # remux | ffv1 | None (no video: nothing to archive beside the original)
    master: ArchiveResult | None = None
    access: ArchiveResult | None = None
    note: str | None = None

    def derivatives(self) -> list[dict[str, Any]]:
        """One entry per output, ready for the store step (kind, path, sha256, size, suffix, content type)."""
        out = []
        for kind, result in (("master", self.master), ("access", self.access)):
            if result is not None:
                out.append(
                    {
                        "kind": kind,
                        "path": result.path,
                        "sha256": result.sha256,
                        "size": result.size,
                        "suffix": Path(result.path).suffix,
                        "content_type": CONTENT_TYPES[kind],
                        "action": result.action,
                    }
                )
        return out

    def manifest(self) -> dict[str, Any]:
        """The manifest section: outputs, checksums, and the proof per stream."""
        return {
            "action": self.action,
            "note": self.note,
            "master": self.master.model_dump(mode="json", exclude={"source", "path"}) if self.master else None,
            "access": self.access.model_dump(mode="json", exclude={"source", "path"}) if self.access else None,
        }


def archive_recording(
    recording: Recording,
    local_path: Path | str,
    work_dir: Path | str,
    *,
    settings: ArchiveSettings | None = None,
    session_id: str | None = None,
    progress: Progress | None = None,
) -> ArchiveOutputs:
    """Make the master and the access copy of one probed recording (no Prefect needed).

    Parameters
    ----------
    recording : Recording
        The probed original; its SHA-256 names the outputs and goes into the master's tags.
    local_path : path-like
        The original file on local disk (only read).
    work_dir : path-like
        Where ``<sha256>.master.mkv`` and ``<sha256>.access.mp4`` are written.
    settings : ArchiveSettings, optional
        ``Settings.archive``.
    session_id : str, optional
        Written into the master's tags.
    progress : callable, optional
        ``progress(stage, seconds_done, seconds_total)``.

    Returns
    -------
    ArchiveOutputs
    """
    settings = settings or ArchiveSettings()
    work = Path(work_dir)
    if recording.video is None:
        return ArchiveOutputs(source_sha256=recording.sha256, action=None, note="no video stream: the original is the only copy")
    action: Action = decide(local_path, settings.policy)
    master = make_master(
        local_path,
        work / f"{recording.sha256}{settings.master_suffix}",
        action=action,
        settings=settings,
        tags=master_tags(recording, session_id),
        progress=progress,
        overwrite=True,  # a retry after a later failure redoes the work directory's copy
    )
    access = None
    if settings.policy.access_copy:
        access = make_access(
            local_path, work / f"{recording.sha256}{settings.access_suffix}", settings=settings, progress=progress, overwrite=True
        )
    return ArchiveOutputs(source_sha256=recording.sha256, action=action.value, master=master, access=access)


# -- the one-pass entry point of the ingest flow ------------------------------------------------

#: errno values that mean the machine failed (disk full, quota, read-only or failing disk, out of
#: memory), not the file being processed: these propagate so the file stays in the inbox.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM})


def machine_fault(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception that caused it (``ArchiveError`` wraps the ``OSError``), is a machine's I/O fault."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@dataclass
class Processed:
    """What :func:`process_recording` made of one new recording."""

    qc: QCResult | None  # None when gaps is None or the decode check failed
    qc_error: str | None  # why the decode check failed (file probed fine but does not decode), else None
    archive: ArchiveOutputs | None  # None when archive is None, no video, or archiving failed
    archive_error: str | None  # why archiving failed (an ArchiveError: e.g. master does not verify), else None


def process_recording(
    recording: Recording,
    local_path: Path | str,
    work_dir: Path | str,
    *,
    gaps: GapSettings | None,
    archive: ArchiveSettings | None,
    session_id: str | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
) -> Processed:
    """QC + master + access copy of one probed recording.

    Parameters
    ----------
    recording : Recording
        The probed original.
    local_path : path-like
        The original on local disk (only read).
    work_dir : path-like
        Where the master and the access copy are written (see :func:`archive_recording`).
    gaps : GapSettings or None
        Run the decode check (:func:`media.gaps.qc.analyse`) with these settings; None skips it.
    archive : ArchiveSettings or None
        Make the master and access copy with these settings; None skips them.
    session_id : str, optional
        Written into the master's tags.
    progress : callable, optional
        ``progress(stage, seconds_done, seconds_total)``.
    threads : int, optional
        Decoder and encoder threads for this call; None keeps the defaults.

    Returns
    -------
    Processed

    Raises
    ------
    OSError
        A fault of the machine (:data:`MACHINE_ERRNOS`), also when it caused an ``ArchiveError``:
        nothing is kept and the caller should leave the file for a later run.
    """
    qc = qc_error = outputs = archive_error = None
    if gaps is not None:
        try:
            qc = analyse(local_path, gaps, recording=recording)
        except Exception as exc:  # probed fine but does not decode to the end
            if machine_fault(exc):
                raise
            qc_error = str(exc) or type(exc).__name__
    if archive is not None:
        try:
            outputs = archive_recording(recording, local_path, work_dir, settings=archive, session_id=session_id, progress=progress)
        except Exception as exc:
            if machine_fault(exc):
                raise
            archive_error = str(exc) or type(exc).__name__
        if outputs is not None and outputs.action is None:
            outputs = None  # no video: nothing beside the original
    return Processed(qc=qc, qc_error=qc_error, archive=outputs, archive_error=archive_error)


def scratch_estimate(recording: Recording, archive: ArchiveSettings | None) -> int:
    """Upper estimate in bytes of the work files :func:`process_recording` writes for this recording."""
    if archive is None or recording.video is None:
        return 0
    return archive_scratch(recording, archive)
