"""Named crash points for the fault-injection tests: inert unless ``FOOTAGE_FAULT`` is set.

``FOOTAGE_FAULT=store.after_put:kill`` makes the process kill itself with SIGKILL (no cleanup, no
``finally``, exactly like a power cut or ``kill -9``) the first time the code passes the point
named ``store.after_put``; ``POINT:raise`` raises :class:`InjectedFault` instead;
``POINT:hold`` makes the thread that first passes the point write ``$FOOTAGE_FAULT_DIR/POINT.held``
and wait there until ``$FOOTAGE_FAULT_DIR/POINT.go`` exists (at most ``HOLD_MAX_S``), so that a
test can change the world at that exact moment (stop the S3 server, start it again) without
guessing at timings. Several points are separated by commas. Every point the code has is listed in :data:`POINTS` and documented in
``docs/reliability.md``; the tests kill a real ingest at each one and rerun it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

ENV = "FOOTAGE_FAULT"
DIR_ENV = "FOOTAGE_FAULT_DIR"
RUN_PID_ENV = "FOOTAGE_RUN_PID"  # set by a run for its embedded worker processes
HOLD_MAX_S = 600.0

#: every named point, in the order an ingest passes them
POINTS = (
    "local.after_meta",  # local backend: metadata written, data not yet in place
    "local.after_data",  # local backend: data and metadata in place, put not returned
    "preserve.after_decode",  # checks and copies made in scratch, nothing stored yet
    "store.after_intent",  # the intent (the original's key) is in the record's history, nothing stored
    "store.after_original",  # the original is stored, no derivative, no manifest
    "store.after_derivatives",  # original and derivatives stored, no manifest (the commit point)
    "store.after_manifest",  # the record is committed, not verified
    "audit.before_append",  # the run's outcome events are about to be written to the audit log
    "ingest.after_outcome",  # the outcome audit events are written, every file still in the inbox
    "finalize.after_move",  # the file has left the inbox
)


_held: set[str] = set()
_held_lock = threading.Lock()


class InjectedFault(RuntimeError):
    """Raised at a point named with ``:raise``."""


def fault(point: str) -> None:
    """Die (or raise) here when ``FOOTAGE_FAULT`` names ``point``; do nothing otherwise."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name != point:
            continue
        if action == "raise":
            raise InjectedFault(f"injected fault at {point}")
        if action == "hold":
            _hold(point)
            return
        _kill_run()


def _kill_run() -> None:
    """SIGKILL, like a power cut of this machine: in a worker process of a run's embedded cluster
    (``FOOTAGE_RUN_PID`` names the run's process) the whole run dies, its other processes with
    it; elsewhere (a Dask worker of another machine, the run's own process) only this process."""
    run = int(os.environ.get(RUN_PID_ENV, "0") or 0)
    if run and run != os.getpid():
        for pid in [*descendants(run), run]:
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    os.kill(os.getpid(), signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _hold(point: str) -> None:
    """Wait at ``point`` (the first thread to pass it, once per process) until the test says go."""
    folder = os.environ.get(DIR_ENV)
    if not folder:
        raise InjectedFault(f"{ENV} asks to hold at {point} but {DIR_ENV} is not set")
    with _held_lock:
        if point in _held:
            return
        _held.add(point)
    folder_path = Path(folder)
    (folder_path / f"{point}.held").write_text(str(os.getpid()))
    deadline = time.monotonic() + HOLD_MAX_S
    while not (folder_path / f"{point}.go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
