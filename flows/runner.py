"""Where the ingest flow's tasks run: an embedded Dask cluster, or an existing one (prefect-dask).

One task runner, :class:`FootageTaskRunner`, given to the flow where it is defined, so that the
flow is the same whoever starts it (``footage ingest``, ``footage demo``, a served deployment) and
only configuration differs (``[runner]``, docs/scaling.md):

* **embedded** (no ``runner.address``): a :class:`distributed.LocalCluster` of one worker
  *process* per core (``runner.workers``), one task thread each, started and stopped with the flow
  run. Processes, not threads: the per-frame numpy work of the gap checks holds the GIL.
* **distributed** (``runner.address = "tcp://HOST:8786"`` or ``"tls://..."``): that scheduler. A
  real Prefect server is required (``PREFECT_API_URL``), and every worker must run the same
  Footage code: both are checked before the first task, with a clear message instead of a
  pickling traceback.

A run started by the command line with no ``PREFECT_API_URL`` gets one temporary Prefect server
(:func:`temporary_api_server`), whose address the embedded worker processes inherit; a served
run has its server already.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import socket
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import dask
from distributed import Client, LocalCluster, get_worker
from distributed.security import Security
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner

from flows.runtime import TemporaryServer, forget_temporary_server, note_temporary_server, stop_orphaned_servers
from records.scratch import clean_scratch
from records.settings import Settings, load_settings

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

    missing = [n for n, v in (("tls_ca_file", r.tls_ca_file), ("tls_cert_file", r.tls_cert_file),
                              ("tls_key_file", r.tls_key_file)) if v is None]
    if missing:
        raise RunnerError(f"runner.address is {r.address}: set runner.{', runner.'.join(missing)} (PEM files) for TLS")
    return Security(tls_ca_file=str(r.tls_ca_file), tls_client_cert=str(r.tls_cert_file),
                    tls_client_key=str(r.tls_key_file), require_encryption=True)


@dataclass
class Cluster:
    """What a run knows of its cluster: the mode, the scheduler, the workers at the start."""

    mode: str  # "embedded" | "dask"
    address: str | None
    workers: list[str] = field(default_factory=list)  # worker addresses when the run started

    @property
    def lost_checkable(self) -> bool:
        """Whether workers lost during the run can be told (a cluster that outlives the run)."""
        return self.mode == "dask"


def check_cluster(settings: Settings) -> list[str]:
    """The workers of ``runner.address``, after checking that they run our code; raises RunnerError."""

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

    url = PREFECT_API_URL.value()
    if not url:
        raise RunnerError(
            "runner.address is set (a Dask cluster) but PREFECT_API_URL is not: each Dask worker would start "
            "a temporary Prefect server of its own and the run's tasks would be recorded nowhere. Start a "
            "Prefect server (`prefect server start`, docs/scaling.md) and export PREFECT_API_URL on this "
            "machine and on every worker."
        )
    return url


class FootageTaskRunner(DaskTaskRunner):
    """The ingest flow's one task runner, whoever starts the flow run: ``footage ingest``,
    ``footage demo``, or a served deployment (the nightly cron, the UI's "Run").

    It is given to the flow where the flow is defined (``@flow(task_runner=...)``), so a served
    run, which loads the flow from its entrypoint, runs on it too. It reads ``[runner]`` when the
    flow run starts, not when the module is imported: the same object serves whatever the
    configuration of the process that runs the flow says.

    When the flow run starts, in a thread, it does the run's housekeeping (:func:`housekeeping`), then

    * **embedded** (no ``runner.address``): starts :func:`local_cluster` (our Dask settings, the
      preload) and stops it when the flow run ends;
    * **distributed**: checks the Prefect server and the workers (:func:`require_api_server`,
      :func:`check_cluster`) and connects to ``runner.address``.

    :attr:`cluster` says which, for the run's summary.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cluster: Cluster | None = None
        self._starting: Future | None = None

    def duplicate(self) -> "FootageTaskRunner":
        return type(self)()

    def __enter__(self) -> "FootageTaskRunner":
        """The flow run starts: the cluster starts too, in a thread, while the flow looks at its
        inbox (a night's run pays the workers' start once, beside the settle wait). Prefect also
        enters the flow's task runner around each task run on a Dask worker: nothing starts there."""
        super().__enter__()
        if not _in_dask_worker():
            pool = ThreadPoolExecutor(1, thread_name_prefix="footage-cluster")
            # in this thread's context: Prefect's settings (the API server) go with it
            self._starting = pool.submit(contextvars.copy_context().run, self._start, load_settings())
            pool.shutdown(wait=False)
        return self

    def __exit__(self, *args: Any) -> None:
        if self._starting is not None:  # a cluster still starting is stopped once it has
            wait([self._starting])
            if self._starting.exception() is not None:  # also on a night with nothing to submit
                self.logger.error("the task runner could not start: %s", self._starting.exception())
        super().__exit__(*args)

    def started(self) -> Cluster | None:
        """The cluster, once its start has ended (None: none was started here); raises the error
        of a start that failed."""
        if self._starting is not None:
            self._starting.result()
        return self.cluster

    @property
    def client(self) -> Any:
        """The Dask client, once the cluster has started (or was checked): its error, if it
        could not, is raised here, at the first task submitted."""
        if self._client is None and self._starting is not None:
            self._starting.result()
        return super().client

    def _start(self, settings: Settings) -> None:
        try:
            for line in housekeeping(settings):
                self.logger.warning(line)
        except OSError as exc:  # what a killed run left is cleared next time; this run goes on
            self.logger.warning("housekeeping failed: %s", exc)
        if settings.runner.address:
            require_api_server()
            workers = check_cluster(settings)
            self.address = settings.runner.address
            sec = security(settings)
            if sec is not None:
                self.client_kwargs["security"] = sec
            self.cluster = Cluster("dask", self.address, workers)
            return
        # the embedded scheduler and nannies live in this process: their start/stop chatter is not
        # the operator's business (warnings still show)
        logging.getLogger("distributed").setLevel(logging.WARNING)
        n = embedded_workers(settings)
        self._cluster = self._exit_stack.enter_context(local_cluster(settings, n))
        self.cluster = Cluster("embedded", None, [f"local:{i}" for i in range(n)])


def _in_dask_worker() -> bool:
    try:
        get_worker()
    except ValueError:
        return False
    return True


def housekeeping(settings: Settings) -> list[str]:
    """What a killed run left on this machine, cleared before a run starts: the temporary Prefect
    servers of runs that are gone (:func:`flows.runtime.stop_orphaned_servers`) and scratch folders
    of killed tasks (:func:`records.scratch.clean_scratch`). Returns what was done, for the log."""
    done = [f"stopped the temporary Prefect server (pid {pid}) of a run that was killed"
            for pid in stop_orphaned_servers(settings.home / "run")]
    done += [f"removed scratch left by a killed run: {left}" for left in clean_scratch(settings.scratch_root)]
    return done


def local_cluster(settings: Settings, n: int) -> Any:
    """The embedded cluster: ``n`` worker processes of ``runner.threads`` threads, Footage preloaded."""

    with dask.config.set(DASK_CONFIG):  # the nannies hand it on to their worker processes
        return LocalCluster(
            n_workers=n,
            threads_per_worker=settings.runner.threads,
            processes=True,
            dashboard_address=None,  # no web server nobody asked for
            preload=["flows.ingest"],  # imported at worker start, not at the first task
        )


@contextmanager
def temporary_api_server(run_dir: Path) -> Iterator[str | None]:
    """With no ``PREFECT_API_URL``: one temporary Prefect server for this run and its worker
    processes (Prefect's own, started here rather than lazily in every process), noted under
    ``run_dir`` so that the next run stops it if this one is killed (:mod:`flows.runtime`), and
    stopped at the end."""

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    server = TemporaryServer()
    server.start()
    note = note_temporary_server(run_dir)
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
        forget_temporary_server(note)


def live_workers(settings: Settings) -> list[str] | None:
    """The scheduler's workers now (distributed mode), to tell the run which were lost; ``None`` if unknown."""
    if not settings.runner.address:
        return None
    try:
        with Client(settings.runner.address, timeout=settings.runner.connect_timeout_s,
                    security=security(settings), set_as_default=False) as client:
            return sorted(client.scheduler_info(n_workers=-1)["workers"])
    except (OSError, TimeoutError):
        return None
