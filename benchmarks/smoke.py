"""Smoke mode of the benchmarks: ``FOOTAGE_BENCH_SMOKE=1`` (what CI sets, see scripts/test.sh).

In smoke mode every benchmark runs once on small inputs (a few seconds of media, one round) with
``--benchmark-disable``, so that none of them rots unnoticed; its figures mean nothing then, and
timed goals are not asserted. A benchmark that needs what CI lacks (a network download, a model
not shipped) skips with the reason instead of failing.
"""

from __future__ import annotations

import os

SMOKE = os.environ.get("FOOTAGE_BENCH_SMOKE", "0") not in ("", "0")


def setting(name: str, full: float, smoke: float) -> float:
    """The environment variable ``name`` if set, else ``smoke`` in smoke mode, else ``full``."""
    raw = os.environ.get(name)
    value = float(raw) if raw else (smoke if SMOKE else full)
    return int(value) if float(value).is_integer() else value
