"""Named crash points for the fault-injection tests: inert unless ``FOOTAGE_FAULT`` is set.

``FOOTAGE_FAULT=store.after_put:kill`` makes the process kill itself with SIGKILL (no cleanup, no
``finally``, exactly like a power cut or ``kill -9``) the first time the code passes the point
named ``store.after_put``; ``POINT:raise`` raises :class:`InjectedFault` instead. Several points
are separated by commas. Every point the code has is listed in :data:`POINTS` and documented in
``docs/reliability.md``; the tests kill a real ingest at each one and rerun it.
"""

from __future__ import annotations

import os
import signal

ENV = "FOOTAGE_FAULT"

#: every named point, in the order an ingest passes them
POINTS = (
    "local.after_meta",  # local backend: metadata written, data not yet in place
    "local.after_data",  # local backend: data and metadata in place, put not returned
    "store.after_intent",  # the intent (the original's key) is in the record's history, nothing stored
    "store.after_original",  # the original is stored, no derivative, no manifest
    "store.after_derivatives",  # original and derivatives stored, no manifest (the commit point)
    "store.after_manifest",  # the record is committed, not verified
    "ingest.after_outcome",  # the outcome audit events are written, every file still in the inbox
    "finalize.after_move",  # the file has left the inbox
)


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
        os.kill(os.getpid(), signal.SIGKILL)
