"""A record's derivatives: the verified archive master (per the format policy) and the access copy.

:func:`archive_recording` writes both into a work directory, proves the master lossless, and
returns their paths and SHA-256 (:class:`ArchiveOutputs`) so the store step can keep them beside
the original (:func:`records.keys.derivative_key`, same retention). A master that fails
verification raises :class:`media.archive.ArchiveError`; the original is untouched, and the error
says which stream and frame differ.
"""

from __future__ import annotations

import errno
from contextlib import ExitStack
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from media.archive import (
    AccessJob,
    ArchiveResult,
    ArchiveSettings,
    Progress,
    MasterJob,
    master_tags,
)
from media.archive.estimate import archive_scratch
from media.fanout import FanOut
from media.gaps.qc import GapChecks, QCResult
from media.gaps.settings import GapSettings
from media.gaps.speech import Window
from media.model import Recording

from records.manifest import ArchiveRecord, StoredObject

CONTENT_TYPES = {"master": "video/x-matroska", "access": "video/mp4"}


class ArchiveOutputs(BaseModel):
    """What the archive step made for one original."""

    source_sha256: str
    action: str | None  # remux | ffv1 | None (no video: nothing to archive beside the original)
    master: ArchiveResult | None = None
    access: ArchiveResult | None = None
    note: str | None = None

    def derivatives(self) -> list[WorkCopy]:
        """One entry per output, ready for the store step."""
        return [
            WorkCopy(kind=kind, path=result.path, sha256=result.sha256, size=result.size,
                     suffix=Path(result.path).suffix, content_type=CONTENT_TYPES[kind], action=result.action)
            for kind, result in (("master", self.master), ("access", self.access))
            if result is not None
        ]

    def manifest(self, stored: Sequence[StoredObject] = ()) -> ArchiveRecord:
        """The manifest section: outputs, checksums, the proof per stream, and where the copies
        were ``stored``."""
        return ArchiveRecord(
            action=self.action,
            note=self.note,
            master=self.master.model_dump(mode="json", exclude={"source", "path"}) if self.master else None,
            access=self.access.model_dump(mode="json", exclude={"source", "path"}) if self.access else None,
            stored=list(stored),
        )


class WorkCopy(BaseModel):
    """A derivative in the work folder, before it is stored: what the store step needs."""

    model_config = ConfigDict(frozen=True)

    kind: str  # master | access
    path: str
    sha256: str
    size: int
    suffix: str
    content_type: str
    action: str | None = None


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
    if recording.video is None:
        return ArchiveOutputs(source_sha256=recording.sha256, action=None, note="no video stream: the original is the only copy")
    return _one_pass(recording, local_path, work_dir, None, settings, session_id, progress, None, {})


def _one_pass(
    recording: Recording,
    local_path: Path | str,
    work_dir: Path | str,
    checks: GapChecks | None,
    settings: ArchiveSettings | None,
    session_id: str | None,
    progress: Progress | None,
    threads: int | None,
    passed: dict,
) -> ArchiveOutputs | None:
    """One :class:`~media.fanout.FanOut` over the original feeding ``checks`` and the archive jobs.

    Returns the verified outputs (None without ``settings``); the pass's
    :class:`~media.fanout.PassResult` is left in ``passed["outcome"]`` for the checks' caller.
    Raises what made the pass or an output fail; the partial outputs are removed first.
    """
    work = Path(work_dir)
    with ExitStack() as stack:
        jobs: list = []
        if settings is not None:
            jobs.append(stack.enter_context(MasterJob(
                local_path, work / f"{recording.sha256}{settings.master_suffix}", settings=settings,
                tags=master_tags(recording, session_id), progress=progress,
                overwrite=True,  # a retry after a later failure redoes the work directory's copy
                threads=threads,
            )))
            if settings.policy.access_copy:
                jobs.append(stack.enter_context(AccessJob(
                    local_path, work / f"{recording.sha256}{settings.access_suffix}", settings=settings,
                    progress=progress, overwrite=True,
                )))
        consumers = ([checks] if checks is not None else []) + [j.consumer for j in jobs]
        passed["outcome"] = FanOut(local_path, consumers, threads=threads).run()
        results = [j.finish(passed["outcome"]) for j in jobs]  # raises: the ExitStack removes every partial
    if settings is None:
        return None
    master = results[0]
    return ArchiveOutputs(
        source_sha256=recording.sha256, action=master.action, master=master, access=results[1] if len(results) > 1 else None
    )


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
    listen: Sequence[Window] | None = None,
) -> Processed:
    """QC + master + access copy of one probed recording from ONE decode pass.

    The file is opened once (:class:`media.fanout.FanOut`) and feeds the gap checks
    (:class:`media.gaps.qc.GapChecks`), the master (:class:`media.archive.MasterWriter`: a
    stream copy, or FFV1 from the decoded frames, with the source's digests taken on the way)
    and the access copy (:class:`media.archive.AccessWriter`: a faststart stream copy when the
    source meets the access profile, else an encode). Afterwards only the outputs are read back:
    the master decoded once to prove it, the access copy checked. Fast decoding (gap checks
    only) is used when no encoder takes the pictures: then the findings equal
    :func:`~media.gaps.qc.analyse`'s exactly; with an encoder they come from faithful pictures,
    as with ``GapSettings.fast_decode = False``.

    Outputs are written as :func:`archive_recording` writes them: ``<sha256>.master.mkv`` and
    ``<sha256>.access.mp4`` in ``work_dir``, replaced if present. Masters and stream-copied
    access copies are byte-identical for the same source and settings (a recomputed task makes
    the same bytes); an encoded access copy almost always is, but x264 does not guarantee it
    (docs/cli.md, Manifests). Archiving is all or
    nothing: when the master or the access copy fails, neither is left.

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
        Decoder and FFV1 encoder threads for this call; None keeps the defaults (one per core,
        ``FFV1Options.threads``). Outputs do not depend on it. The x264 thread count of an
        encoded access copy is part of its bits and stays ``AccessOptions.threads``
        (0: :data:`media.archive.access.X264_THREADS`).
    listen : sequence of Window, optional
        Where the voice activity detection listens (:func:`media.gaps.session.listening_windows`);
        None listens to the whole file.

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
    checks = GapChecks(gaps, recording=recording, listen=listen) if gaps is not None else None
    settings = archive if recording.video is not None else None  # no video: nothing beside the original

    def why(exc: BaseException) -> str:
        if machine_fault(exc):
            raise exc
        return str(exc) or type(exc).__name__

    passed: dict = {}
    try:
        outputs = _one_pass(recording, local_path, work_dir, checks, settings, session_id, progress, threads, passed)
    except Exception as exc:  # noqa: BLE001 (why() raises a machine fault again)
        if "outcome" not in passed:  # the file could not be opened or demuxed: every part failed
            qc_error = why(exc) if checks is not None else None
        if settings is not None:
            archive_error = why(exc)
    outcome = passed.get("outcome")
    if checks is not None and outcome is not None:
        if checks in outcome.errors:
            qc_error = why(outcome.errors[checks])
        else:
            qc = checks.result
    return Processed(qc=qc, qc_error=qc_error, archive=outputs, archive_error=archive_error)


def scratch_estimate(recording: Recording, archive: ArchiveSettings | None) -> int:
    """Upper estimate in bytes of the work files :func:`process_recording` writes for this recording."""
    if archive is None or recording.video is None:
        return 0
    return archive_scratch(recording, archive)
