"""A real cluster on 127.0.0.1 for the tests and benchmarks of distributed ingest.

:func:`cluster` starts a Prefect server (``prefect server start``, SQLite under a temporary
folder), a ``dask scheduler`` and ``n_workers`` ``dask worker`` processes with one task thread
each, all as separate processes, exactly as docs/scaling.md tells an operator to, and stops
every one of them at the end, also when the test fails. It yields the environment a run needs:
``PREFECT_API_URL`` and ``FOOTAGE_RUNNER__ADDRESS``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from flows.runner import dask_env
from storage.faults import descendants

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: imported by the scheduler and every worker when they start, as docs/scaling.md tells an operator:
#: the scheduler unpickles each submitted task (and with it Footage, Prefect, numpy ...), the workers
#: run them; without it the first run after a start pays those imports on its critical path
PRELOAD = ["--preload", "flows.ingest"]
#: the scheduler's and workers' Dask settings that docs/scaling.md (topology) asks operators for
DASK_ENV = dask_env()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float, procs: list[subprocess.Popen]) -> None:
    """Return once ``check()`` is true; fail at once if one of ``procs`` exited meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: process {p.args[:3]} exited with {p.returncode} (log: {getattr(p, 'log', '?')})")
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_process(cmd: list[str], log: Path, env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own (so that :func:`stop_process` stops what it starts),
    its output appended to ``log``."""
    fh = open(log, "ab")
    p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    p.log = log  # type: ignore[attr-defined]
    return p


def stop_process(p: subprocess.Popen) -> None:
    """Stop a process and everything it started (its own session)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    else:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # leftovers of an exited leader
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Cluster:
    env: dict[str, str]
    api_url: str
    address: str
    tmp: Path
    worker_env: dict[str, str]
    server: subprocess.Popen | None = None
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    nthreads: int = 1

    def worker_pids(self) -> set[int]:
        """The processes that run tasks: each ``dask worker`` (a nanny) and what it started."""
        return {pid for w in self.workers for pid in [w.pid, *descendants(w.pid)]}

    def add_workers(self, n: int, extra_env: dict[str, str] | None = None) -> None:
        for i in range(n):
            name = f"w{len(self.workers)}"
            self.workers.append(start_process(
                [str(BIN / "dask"), "worker", self.address, "--nworkers", "1", "--nthreads", str(self.nthreads), "--name", name,
                 "--local-directory", str(self.tmp / name), "--no-dashboard", "--host", "127.0.0.1", *PRELOAD],
                self.tmp / f"{name}.log", {**self.worker_env, **(extra_env or {})},
            ))
        self.wait_workers(len(self.workers))

    def wait_workers(self, n: int, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop_workers(self) -> None:
        for w in self.workers:
            stop_process(w)
        self.workers = []


@contextmanager
def prefect_server(tmp: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Prefect server process on a free port, SQLite in ``tmp``; ``env``: more settings of its own."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
           "PREFECT_SERVER_LOGGING_LEVEL": "WARNING", "PREFECT_UI_ENABLED": "false", **(env or {})}
    env.pop("PREFECT_API_URL", None)
    server = start_process([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                           tmp / "prefect-server.log", env)
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}/api/health"), "Prefect server", 180, [server])
        # its first request that reads the database takes 0.6 s more (a server that has been up
        # answers in milliseconds): paid here, not by the first run the tests time
        _healthy(f"http://127.0.0.1:{port}/api/hello")
        yield f"http://127.0.0.1:{port}/api", server
    finally:
        stop_process(server)


@contextmanager
def cluster(n_workers: int, tmp: Path, nthreads: int = 1, worker_env: dict[str, str] | None = None,
            api_url: str | None = None) -> Iterator[Cluster]:
    """A Prefect server (unless ``api_url`` names one), a Dask scheduler and ``n_workers`` workers."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    with (prefect_server(tmp) if api_url is None else _given(api_url)) as (url, server):
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        # the workers run this checkout's code (PYTHONPATH), talk to the test's Prefect server
        base = {k: v for k, v in os.environ.items() if not k.startswith("FOOTAGE_FAULT")}
        wenv = {**base, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": url, "PREFECT_LOGGING_LEVEL": "WARNING",
                **DASK_ENV, **(worker_env or {})}
        scheduler = start_process([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard", *PRELOAD], tmp / "scheduler.log", wenv)
        c = Cluster(env={"PREFECT_API_URL": url, "FOOTAGE_RUNNER__ADDRESS": address}, api_url=url,
                    address=address, tmp=tmp, worker_env=wenv, server=server, scheduler=scheduler, nthreads=nthreads)
        try:
            wait_until(lambda: _port_open(port), "Dask scheduler", 120, [scheduler])
            c.add_workers(n_workers)
            yield c
        finally:
            c.stop_workers()
            stop_process(scheduler)


@contextmanager
def _given(url: str) -> Iterator[tuple[str, None]]:
    yield url, None
