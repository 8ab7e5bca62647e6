"""A process-wide hook through which tasks report progress to whoever shows it (the CLI's bars).

Tasks run in threads of the same process on the thread-pool runner, so a plain callback is
enough; with no listener set the calls do nothing (scheduled runs, the Prefect UI).
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol


class Listener(Protocol):
    def file_started(self, name: str, steps: int) -> None: ...

    def file_step(self, name: str, step: str) -> None: ...

    def file_done(self, name: str, status: str) -> None: ...


_lock = threading.Lock()
_listener: Listener | None = None


def set_listener(listener: Listener | None) -> None:
    global _listener
    with _lock:
        _listener = listener


def _call(fn: Callable[[Listener], None]) -> None:
    listener = _listener
    if listener is not None:
        try:
            fn(listener)
        except Exception:  # a display problem must never break an ingest
            pass


def started(name: str, steps: int) -> None:
    _call(lambda who: who.file_started(name, steps))


def step(name: str, step_name: str) -> None:
    _call(lambda who: who.file_step(name, step_name))


def done(name: str, status: str) -> None:
    _call(lambda who: who.file_done(name, status))
