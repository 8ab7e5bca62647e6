"""A real Prefect server and a real ``footage serve``, for the tests of what is scheduled
(tests/served) and the benchmark of the served nightly run (benchmarks/bench_served.py).

:func:`serving` starts a ``prefect server start`` process (:func:`clusterkit.prefect_server`:
SQLite and PREFECT_HOME in the given folder) and the ``footage serve`` console script of this
virtual environment, in a folder of its own as an operator would, on a FOOTAGE_HOME of its own
(single-user mode, local backend, no footage.toml). It yields a :class:`Served`.

The server's scheduler service is off: a cron of the deployments (02:00 China time, ...) falling
inside a test would start a second run on the same inbox. Runs are started the way that service
starts them (:meth:`Served.run_scheduled`).
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from uuid import UUID

import httpx
import pytest

from clusterkit import BIN, prefect_server, start_process, stop_process, wait_until  # tests/ is on sys.path
from storage.faults import descendants

#: flow name / deployment name of each deployment ``footage serve`` serves (flows/deployments.py)
NIGHTLY = "footage-ingest/nightly-ingest"
COMPLIANCE = "compliance-report/monthly-compliance"
FIXITY = "fixity-audit/weekly-fixity-audit"
DISCLOSURE = "disclose/disclosure"
DEPLOYMENTS = (NIGHTLY, COMPLIANCE, FIXITY, DISCLOSURE)
RUN_TIMEOUT_S = 600.0  # a run, from its creation to a final state: generous, the machines are shared


@dataclass
class Served:
    root: Path
    api: str
    serving: subprocess.Popen
    process_env: dict[str, str]  # the environment of footage serve (its FOOTAGE_* are this process's too)

    @property
    def home(self) -> Path:
        return Path(self.process_env["FOOTAGE_HOME"])

    @property
    def settings(self):
        from records.settings import load_settings

        return load_settings()

    def store(self):
        from records.store import open_store

        return open_store(self.settings)

    def footage(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run ``footage ARGS`` in a process of its own, in footage serve's environment."""
        return subprocess.run([str(BIN / "footage"), *args], env=self.process_env, cwd=self.root / "serve-cwd",
                              capture_output=True, text=True, timeout=timeout)

    def serve_log(self) -> str:
        path = self.root / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- runs ------------------------------------------------------------------------------------
    def deployment(self, name: str):
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return client.read_deployment_by_name(name)

    def run_scheduled(self, name: str, timeout: float = RUN_TIMEOUT_S, poll_s: float = 1.0):
        """Start a run of deployment ``name`` the way its schedule does, and wait for its end.

        Prefect's scheduler service creates a flow run from the deployment, in state Scheduled,
        with the deployment's parameters (none are passed here: the deployment's defaults apply);
        the polling ``footage serve`` picks it up once its time has come. Returns the final
        flow run and the seconds from its creation to its end (as seen from here, every ``poll_s``).
        """
        from prefect.client.orchestration import get_client

        dep = self.deployment(name)
        assert [s.active for s in dep.schedules] == [True], f"{name} is not on one active schedule: {dep.schedules}"
        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(dep.id)
        assert run.state is not None and run.state.is_scheduled(), run.state
        assert run.parameters == dep.parameters
        started = time.monotonic()
        run = self.wait_final(run.id, timeout, poll_s)
        return run, time.monotonic() - started

    def wait_final(self, run_id: UUID, timeout: float = RUN_TIMEOUT_S, poll_s: float = 1.0):
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    return run
                assert self.serving.poll() is None, f"footage serve exited:\n{self.serve_log()[-4000:]}"
                assert time.monotonic() < deadline, (
                    f"run {run.name} ({run_id}) not finished after {timeout:.0f} s: {run.state}\n"
                    f"footage serve's log:\n{self.serve_log()[-4000:]}")
                time.sleep(poll_s)

    def run_processes(self, exited: bool = False) -> list[int]:
        """The processes below ``footage serve``: its flow runs' (each run a spawned process, its
        Dask cluster below it), not multiprocessing's resource tracker, which stays; with
        ``exited``, also those that exited and are not yet reaped (zombies)."""
        def counted(pid: int) -> bool:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (OSError, IndexError):
                return False
            return (exited or state != "Z") and b"resource_tracker" not in cmdline

        return [p for p in descendants(self.serving.pid) if counted(p)]

    def cpu_s(self) -> float:
        """CPU seconds of ``footage serve`` and of its runs' processes reaped so far (user +
        system; a run's process counts once reaped, with the processes it reaped)."""
        fields = Path(f"/proc/{self.serving.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

    def wait_idle(self, timeout: float = 120.0, reap_s: float = 30.0) -> None:
        """Wait until ``footage serve`` runs no flow run process (a run's process outlives its final
        state: its task runner's cluster stops after it, working on the machine meanwhile), then
        up to ``reap_s`` more until they are reaped (their CPU time is then :meth:`cpu_s`'s)."""
        wait_until(lambda: not self.run_processes(), "footage serve idle (its run processes gone)",
                   timeout, [self.serving])
        deadline = time.monotonic() + reap_s
        while self.run_processes(exited=True) and time.monotonic() < deadline:
            time.sleep(0.2)

    def artifacts(self, run_id: UUID, key: str) -> list[Any]:
        """The artifacts named ``key`` that flow run ``run_id`` published."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        with get_client(sync_client=True) as client:
            return client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))

    def why(self, run) -> str:
        """What went wrong with a run, for an assertion's message: its state and its error logs."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel

        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]),
                                                         level=LogFilterLevel(ge_=40)), limit=20)
        lines = "\n".join(r.message for r in logs)
        return (f"run {run.name} of {run.flow_id}: {run.state.type.value} {run.state.name}: {run.state.message}\n"
                f"its error logs:\n{lines}\nfootage serve's log (end):\n{self.serve_log()[-3000:]}")


def _polled_since(api: str, since: float) -> bool:
    """Every deployment registered, and polled by the runner of ``footage serve`` after ``since``."""
    for name in DEPLOYMENTS:
        try:
            r = httpx.get(f"{api}/deployments/name/{name}", timeout=5)
        except httpx.HTTPError:
            return False
        polled = r.json().get("last_polled") if r.status_code == 200 else None
        if not polled or datetime.fromisoformat(polled).timestamp() <= since:
            return False
    return True


@contextmanager
def serving(root: Path, footage: dict[str, str] | None = None, poll_s: float = 2.0,
            api: str | None = None) -> Iterator[Served]:
    """The running Prefect server and ``footage serve`` under ``root``: FOOTAGE_HOME ``root/home``,
    the local backend, and ``footage`` (more FOOTAGE_* settings, e.g. the embedded cluster's
    ``FOOTAGE_RUNNER__WORKERS``). Its runner looks for runs to start every ``poll_s`` seconds.

    Meanwhile this process reads what they did through the same settings: FOOTAGE_* in its
    environment (other FOOTAGE_* of this process are unset until the end), PREFECT_API_URL in
    Prefect's settings. ``api``: a Prefect server already running (a cluster's, say) instead of
    one started here."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root.mkdir(parents=True, exist_ok=True)
    footage = {"FOOTAGE_HOME": str(root / "home"), "FOOTAGE_STORAGE__BACKEND": "local", **(footage or {})}
    mp = pytest.MonkeyPatch()
    for key in [k for k in os.environ if k.startswith("FOOTAGE_") and k != "FOOTAGE_SHARED"]:
        mp.delenv(key)
    for key, value in footage.items():
        mp.setenv(key, value)
    try:
        server = (prefect_server(root, env={"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"})
                  if api is None else nullcontext((api, None)))
        with server as (api, _server):
            base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOOTAGE_"))}
            env = {**base, **footage, "PREFECT_API_URL": api, "PREFECT_HOME": str(root / "serve-prefect"),
                   "PREFECT_RUNNER_POLL_FREQUENCY": f"{poll_s:g}"}
            workdir = root / "serve-cwd"  # not the checkout: an operator's footage serve runs anywhere
            workdir.mkdir(parents=True)
            since = time.time()
            process = start_process([str(BIN / "footage"), "serve"], root / "serve.log", env, cwd=workdir)
            try:
                wait_until(lambda: _polled_since(api, since), "footage serve polling its deployments", 300, [process])
                with temporary_settings({PREFECT_API_URL: api}):
                    yield Served(root, api, process, env)
            finally:
                stop_process(process)
    finally:
        mp.undo()
