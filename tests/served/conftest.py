"""A real Prefect server and a real ``footage serve`` for the tests of what is scheduled (module
scope): :func:`servekit.serving` (shared with benchmarks/bench_served.py), with the embedded Dask
cluster of the nightly ingest kept to one worker process (the machines that run the suite have two
cores). The tests start each run themselves, the way Prefect's scheduler service does
(:meth:`servekit.Served.run_scheduled`).
"""

from __future__ import annotations

import pytest

from servekit import serving  # tests/ is on sys.path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The running Prefect server and ``footage serve``; this process reads what they did through
    the same settings (FOOTAGE_* in its environment, PREFECT_API_URL in Prefect's settings)."""
    with serving(tmp_path_factory.mktemp("served"), {"FOOTAGE_RUNNER__WORKERS": "1"}) as s:
        yield s
