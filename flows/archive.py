"""The archive task of the ingest flow: :func:`records.derivatives.archive_recording` with retries
on I/O trouble only (a master that does not verify, or a source that cannot be archived, stays failed)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from media.archive import ArchiveError, ArchiveSettings
from media.model import Recording
from records.derivatives import ArchiveOutputs, archive_recording

from flows import progress


def _worth_retrying(task, task_run, state) -> bool:
    """Retry I/O trouble; a master that does not verify, or a source that cannot be archived, stays failed."""
    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as e:  # noqa: BLE001 (we only classify it)
            exc = e
    return not isinstance(exc, ArchiveError)


@task(
    name="archive",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_worth_retrying,
)
def archive_task(
    recording: Recording,
    local_path: str,
    work_dir: str,
    settings: ArchiveSettings | None = None,
    session_id: str | None = None,
) -> ArchiveOutputs:
    """Prefect task around :func:`archive_recording` (retries on I/O errors only)."""
    progress.step(recording.path, "archive")
    return archive_recording(recording, local_path, work_dir, settings=settings, session_id=session_id)
