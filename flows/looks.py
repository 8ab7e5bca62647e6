"""The inbox's first look, started before anything slow: its settle wait (two looks
``settle_seconds`` apart, :func:`records.intake.discover`) then passes while the command imports
Prefect, the cluster is checked and the flow run is created, not after them.

No Prefect here: ``footage ingest`` starts the look before it imports :mod:`flows.ingest`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from records import intake

#: looks started early, by (inbox, settle seconds)
_looks: dict[tuple[str, float], Future] = {}


def look_early(box: Path, settle_seconds: float) -> tuple[str, float] | None:
    """Start :func:`records.intake.discover` now, in a thread (once per inbox: a second call
    keeps the first look). Returns the key :func:`discover` takes it by."""
    if not box.is_dir():
        return None
    key = (str(box.resolve()), float(settle_seconds))
    if key not in _looks:
        pool = ThreadPoolExecutor(1, thread_name_prefix="footage-look")
        _looks[key] = pool.submit(intake.discover, box, settle_seconds)
        pool.shutdown(wait=False)
    return key


def forget(key: tuple[str, float] | None) -> None:
    """Drop a look nobody took (the run failed before its flow looked)."""
    _looks.pop(key, None)


def discover(box: Path, settle_seconds: float) -> tuple[list[Path], list[Path]]:
    """The inbox's ready and still-growing files: from the look :func:`look_early` started for
    this inbox, else looked at now."""
    early = _looks.pop((str(box.resolve()), float(settle_seconds)), None)
    if early is not None:
        try:
            return early.result()
        except Exception:  # noqa: BLE001 (look again, here, and fail here if it fails again)
            pass
    return intake.discover(box, settle_seconds)
