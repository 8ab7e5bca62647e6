"""A record's derivatives: the verified archive master (per the format policy) and the access copy.

:func:`archive_recording` writes both into a work directory, proves the master lossless, and
returns their paths and SHA-256 (:class:`ArchiveOutputs`) so the store step can keep them beside
the original (:func:`records.keys.derivative_key`, same retention). A master that fails
verification raises :class:`media.archive.ArchiveError`; the original is untouched, and the error
says which stream and frame differ.
"""

from __future__ import annotations

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
