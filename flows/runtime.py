"""Runtime plumbing of a flow run: the temporary Prefect server, and what a killed run leaves behind.

:class:`TemporaryServer` starts the temporary API server exactly as Prefect's
``SubprocessASGIServer`` does (the same uvicorn command and environment), without importing
Prefect's server package into the run's process: that import alone costs about 4 CPU-seconds,
spent at the start of every run while the worker processes start on the same cores.

With no ``PREFECT_API_URL`` Prefect starts a temporary API server as a child process (uvicorn,
about 220 MB, a port held) and stops it when the run's process exits normally. A run killed with
SIGKILL cannot stop it: the server lives on, orphaned. Each run therefore notes its temporary
server's process id in ``FOOTAGE_HOME/run/``; the next run stops every noted server whose run is
gone. Only processes noted this way are touched, never a server somebody started on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import prefect
from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, get_current_settings

from records.lease import process_alive
from storage.faults import descendants

MARK = "prefect.server.api.server:create_app"  # in the command line of Prefect's API server
PORT_IN_USE = 3  # uvicorn's exit status when it cannot bind


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryServer:
    """Prefect's temporary API server in a child process, for one run (``start``, then ``stop``).

    The command, the environment (no UI, marked ephemeral, this process's Prefect settings) and
    the start-up wait (``/api/health`` answers 200 within
    ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``) are those of
    ``prefect.server.api.server.SubprocessASGIServer``; the port is one the system says is free.
    """

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> subprocess.Popen:

        self.port = _free_port()
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
               **get_current_settings().to_environment_variables(exclude_unset=True)}
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory", MARK,
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=env,
        )

    def start(self) -> str:
        """Start the server and wait until it answers; returns its API URL."""

        limit = time.monotonic() + PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        self.process = self._launch()
        with httpx.Client() as client:
            while time.monotonic() < limit:
                code = self.process.poll()
                if code == PORT_IN_USE:  # the port was taken between our look and uvicorn's bind
                    self.process = self._launch()
                    continue
                if code is not None:
                    raise RuntimeError(f"the temporary Prefect server exited with status {code} while starting")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return self.api_url
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("timed out while starting the temporary Prefect server "
                           "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def note_temporary_server(run_dir: Path) -> Path | None:
    """Note this process's temporary Prefect server (if it runs one) under ``run_dir``."""
    servers = [c for c in descendants(os.getpid()) if MARK in _cmdline(c)]
    if not servers:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"prefect-server.{os.getpid()}.json"
    path.write_text(json.dumps({"run_pid": os.getpid(), "server_pids": servers}))
    return path


def stop_orphaned_servers(run_dir: Path) -> list[int]:
    """Stop the temporary servers of noted runs that are gone; returns the pids stopped."""
    stopped = []
    for note in sorted(Path(run_dir).glob("prefect-server.*.json")) if Path(run_dir).is_dir() else []:
        try:
            body = json.loads(note.read_text())
        except (OSError, ValueError):
            note.unlink(missing_ok=True)
            continue
        if process_alive(int(body.get("run_pid", 0))):
            continue  # its run still goes on
        for pid in body.get("server_pids", []):
            if process_alive(pid) and MARK in _cmdline(pid):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
        note.unlink(missing_ok=True)
    return stopped


def forget_temporary_server(note: Path | None) -> None:
    """A run that ends normally: Prefect stops its own server, the note goes."""
    if note is not None:
        note.unlink(missing_ok=True)
