"""Where the ingest flow's tasks run: an embedded Dask cluster, or an existing one (prefect-dask).

One task runner class for both, so that the flow is the same and only configuration differs
(``[runner]``, docs/scaling.md):

* **embedded** (no ``runner.address``): a :class:`distributed.LocalCluster` of one worker
  *process* per core (``runner.workers``), one task thread each, started and stopped by the run.
  Processes, not threads: the per-frame numpy work of the gap checks holds the GIL. The run's
  temporary Prefect server is started here, once, and its address handed to the worker processes,
  which would otherwise each start a server of their own.
* **distributed** (``runner.address = "tcp://HOST:8786"`` or ``"tls://..."``): prefect-dask's
  :class:`~prefect_dask.DaskTaskRunner` on that scheduler. A real Prefect server is required
  (``PREFECT_API_URL``), and every worker must run the same Footage code: both are checked before
  the flow starts, with a clear message instead of a pickling traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from records.settings import Settings

#: our packages: their sources make up the code fingerprint every worker must share
PACKAGES = ("flows", "media", "records", "reports", "storage")
_ROOT = Path(__file__).resolve().parent.parent
#: Dask settings of the embedded cluster; operators set the same on theirs (docs/scaling.md,
#: topology): no decode pass held in reserve by a worker of one thread, so a session's commits go
#: first; no statistical profiler in the workers (it walks the task thread's stack every 10 ms,
#: holding the GIL, for a dashboard Footage does not start: 7 % of the workers' CPU here)
DASK_CONFIG = {"distributed.scheduler.worker-saturation": 1.0, "distributed.worker.profile.enabled": False}


def dask_env() -> dict[str, str]:
    """:data:`DASK_CONFIG` as the environment of ``dask scheduler`` and ``dask worker`` commands."""
    return {"DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v) for k, v in DASK_CONFIG.items()}


class RunnerError(RuntimeError):
    """The configured runner cannot be used (no Prefect server, scheduler unreachable, workers differ)."""


def footage_version() -> str:
    """``<package version>+<fingerprint of the sources>``: equal only where the code is equal.

    The package version alone would let a worker with an older checkout of the same release
    compute with other code; the fingerprint covers every ``.py`` file of our packages.
    """
    try:
        version = metadata.version("footage")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((_ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{version}+{digest.hexdigest()[:12]}"


def worker_identity() -> str:
    """``host:pid`` of the process running a task (the per-file ``worker`` of the ingest JSON)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def embedded_workers(settings: Settings) -> int:
    """Worker processes of the embedded cluster: ``runner.workers``, the deprecated
    ``ingest.concurrency``, else every core this process may use."""
    return settings.runner.workers or settings.ingest.concurrency or len(os.sched_getaffinity(0))


def security(settings: Settings) -> Any:
    """Dask TLS settings for a ``tls://`` scheduler (``runner.tls_*``), else ``None``."""
    r = settings.runner
    if not (r.address or "").startswith("tls://"):
        return None
    from distributed.security import Security

    missing = [n for n, v in (("tls_ca_file", r.tls_ca_file), ("tls_cert_file", r.tls_cert_file),
                              ("tls_key_file", r.tls_key_file)) if v is None]
    if missing:
        raise RunnerError(f"runner.address is {r.address}: set runner.{', runner.'.join(missing)} (PEM files) for TLS")
    return Security(tls_ca_file=str(r.tls_ca_file), tls_client_cert=str(r.tls_cert_file),
                    tls_client_key=str(r.tls_key_file), require_encryption=True)


@dataclass
class Cluster:
    """What the run knows of its cluster: the task runner and the workers at the start."""

    runner: Any
    mode: str  # "embedded" | "dask"
    address: str | None
    workers: list[str] = field(default_factory=list)  # worker addresses when the run started

    def describe(self) -> dict[str, Any]:
        """For the run's summary: mode, address, number of workers, the workers at the start."""
        return {"mode": self.mode, "address": self.address, "workers": len(self.workers),
                "at_start": self.workers if self.mode == "dask" else []}


def check_cluster(settings: Settings) -> list[str]:
    """The workers of ``runner.address``, after checking that they run our code; raises RunnerError."""
    from distributed import Client

    address = settings.runner.address
    try:
        client = Client(address, timeout=settings.runner.connect_timeout_s, security=security(settings),
                        set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise RunnerError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    try:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            raise RunnerError(f"the Dask scheduler at {address} has no workers")
        if settings.runner.check_versions:
            mine = footage_version()
            try:
                theirs = client.run(footage_version, on_error="return")
            except Exception as exc:  # noqa: BLE001 (a worker that cannot even import us)
                raise RunnerError(f"the Dask workers at {address} cannot run Footage ({type(exc).__name__}: {exc}); "
                                  "install the same Footage on every worker") from exc
            wrong = {w: v for w, v in theirs.items() if v != mine}
            if wrong:
                lines = ", ".join(f"{w} runs {v if isinstance(v, str) else 'no Footage (' + type(v).__name__ + ': ' + str(v) + ')'}"
                                  for w, v in sorted(wrong.items()))
                raise RunnerError(f"Footage {mine} here, but {lines}: install the same version on every worker "
                                  "(or set runner.check_versions = false at your own risk)")
        return workers
    finally:
        client.close()


def require_api_server() -> str:
    """The configured Prefect server's URL; a distributed run refuses to start without one."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RunnerError(
            "runner.address is set (a Dask cluster) but PREFECT_API_URL is not: each Dask worker would start "
            "a temporary Prefect server of its own and the run's tasks would be recorded nowhere. Start a "
            "Prefect server (`prefect server start`, docs/scaling.md) and export PREFECT_API_URL on this "
            "machine and on every worker."
        )
    return url


def dask_runner(settings: Settings) -> Any:
    """prefect-dask's task runner for the configured cluster (no checks: see :func:`task_runner`)."""
    from prefect_dask import DaskTaskRunner

    if settings.runner.address:
        sec = security(settings)
        return DaskTaskRunner(address=settings.runner.address,
                              client_kwargs={"security": sec} if sec is not None else {})
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": embedded_workers(settings),
            "threads_per_worker": settings.runner.threads,
            "processes": True,
            "dashboard_address": None,  # no web server nobody asked for
        },
    )


@contextmanager
def task_runner(settings: Settings) -> Iterator[Cluster]:
    """The run's task runner, checked, with what it needs around it (a temporary Prefect server)."""
    if settings.runner.address:
        require_api_server()
        workers = check_cluster(settings)
        yield Cluster(dask_runner(settings), "dask", settings.runner.address, workers)
        return
    # the embedded scheduler and nannies live in this process: their start/stop chatter is not
    # the operator's business (warnings still show)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    n = embedded_workers(settings)
    # the worker processes start (and import Footage) while the Prefect server starts: both take
    # seconds, and a night's run pays them once
    from prefect_dask import DaskTaskRunner

    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(local_cluster, settings, n)
        cluster = None
        try:
            with temporary_api_server():
                cluster = starting.result()
                yield Cluster(DaskTaskRunner(address=cluster.scheduler_address), "embedded", None,
                              [f"local:{i}" for i in range(n)])
        finally:
            if cluster is None and starting.exception() is None:
                cluster = starting.result()  # the server failed to start: the workers still must go
            if cluster is not None:
                cluster.close()


def local_cluster(settings: Settings, n: int) -> Any:
    """The embedded cluster: ``n`` worker processes of ``runner.threads`` threads, Footage preloaded."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(DASK_CONFIG):  # the nannies hand it on to their worker processes
        return LocalCluster(
            n_workers=n,
            threads_per_worker=settings.runner.threads,
            processes=True,
            dashboard_address=None,  # no web server nobody asked for
            preload=["flows.ingest"],  # imported at worker start, not at the first task
        )


@contextmanager
def temporary_api_server() -> Iterator[str | None]:
    """With no ``PREFECT_API_URL``: one temporary Prefect server for this run and its worker
    processes (Prefect's own, started here rather than lazily in every process), stopped at the end."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    from flows.runtime import TemporaryServer

    server = TemporaryServer()
    server.start()
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by the worker processes
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        server.stop()


def live_workers(settings: Settings) -> list[str] | None:
    """The scheduler's workers now (distributed mode), to tell the run which were lost; ``None`` if unknown."""
    if not settings.runner.address:
        return None
    from distributed import Client

    try:
        with Client(settings.runner.address, timeout=settings.runner.connect_timeout_s,
                    security=security(settings), set_as_default=False) as client:
            return sorted(client.scheduler_info(n_workers=-1)["workers"])
    except (OSError, TimeoutError):
        return None
