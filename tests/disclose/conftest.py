"""One real Prefect server and one real ``footage serve`` for the disclosure tests (package scope).

:class:`Site` holds a FOOTAGE_HOME, a footage.toml in multi-user mode with an Ed25519 key per
user (alice archivist, bob supervisor, olga operator, carol archivist AND supervisor), a
``prefect server start`` process (SQLite database kept in the site's PREFECT_HOME, UI served on
the same port) and a ``footage serve`` process. Both are real processes that the tests stop,
kill (SIGKILL) and start again. Commands run in this process through Typer's runner, against
the same server (PREFECT_API_URL in Prefect's settings context) and the same configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from credentials.pki import make_pki  # tests/ is on sys.path
from identity.conftest import make_key
from redact.conftest import Face, make_clip

VENV_BIN = Path(sys.executable).parent
USERS = {"alice": ["archivist"], "bob": ["supervisor"], "olga": ["operator"], "carol": ["archivist", "supervisor"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 30.0) -> None:
    """Stop a process this module started, and what it started (its own process group)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Site:
    """A FOOTAGE_HOME, its footage.toml and keys, a Prefect server and a ``footage serve``."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.config = root / "footage.toml"
        self.keys = {name: root / "keys" / f"{name}_ed25519" for name in USERS}
        (root / "keys").mkdir(parents=True)
        self.public = {name: make_key(path, f"{name}@test") for name, path in self.keys.items()}
        self.pki = make_pki(root / "pki")  # the bureau's test CA and signer: released copies are signed
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = self.url + "/api"
        self.server: subprocess.Popen | None = None
        self.serving: subprocess.Popen | None = None
        self.configure()

    # -- configuration ------------------------------------------------------------------------
    def configure(self, **disclosure) -> None:
        """Write footage.toml: the users and keys, and ``[disclosure]`` settings. The flow reads
        it each time a run starts or resumes, so a change applies to the next step."""
        lines = ["[disclosure]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in disclosure.items()]
        lines += ["[c2pa]", f'cert_chain = "{self.pki.chain}"', f'private_key = "{self.pki.key}"',
                  f'trust_anchors = "{self.pki.anchors}"']
        for name, roles in USERS.items():
            lines += [f"[users.{name}]", f"roles = {json.dumps(roles)}", f'public_key = "{self.public[name]}"']
        self.config.write_text("\n".join(lines) + "\n", "utf-8")

    def env(self) -> dict[str, str]:
        """The environment of the site's processes (and of this one, while the tests run)."""
        return {
            "FOOTAGE_HOME": str(self.home), "FOOTAGE_CONFIG": str(self.config),
            "FOOTAGE_STORAGE__BACKEND": "local",
            # short waits for the tests: a resumed run is "stuck" after 6 s, expiry looked for every 2 s
            "FOOTAGE_DISCLOSURE__PICKUP_GRACE_S": "6", "FOOTAGE_DISCLOSURE__EXPIRY_CHECK_S": "2",
            "PREFECT_API_URL": self.api, "PREFECT_HOME": str(self.root / "prefect"),
            "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false", "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "2",
            "HOME": str(self.root / "nohome"),  # no ~/.ssh/id_ed25519 of the machine is found
        }

    def _process_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOOTAGE_", "SSH_AUTH"))}
        return {**base, **self.env()}

    # -- the Prefect server -------------------------------------------------------------------
    def start_server(self, timeout: float = 120.0) -> None:
        log = open(self.root / "server.log", "ab")
        self.server = subprocess.Popen(
            [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self._process_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.server.poll() is None, (self.root / "server.log").read_text()[-3000:]
            try:
                if httpx.get(self.api + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"Prefect server did not answer within {timeout:.0f} s")

    def stop_server(self) -> None:
        _stop(self.server)
        self.server = None

    # -- footage serve ------------------------------------------------------------------------
    def start_serve(self, timeout: float = 120.0) -> None:
        """Start ``footage serve`` and return once it polls for the disclosure deployment."""
        started = time.time()
        log = open(self.root / "serve.log", "ab")
        self.serving = subprocess.Popen([str(VENV_BIN / "footage"), "serve"], env=self._process_env(), stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_polling(started, timeout)

    def wait_polling(self, since: float, timeout: float = 120.0) -> None:
        """Return once ``footage serve`` polled for the disclosure deployment after ``since`` (epoch s)."""
        from datetime import datetime

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.serving is not None and self.serving.poll() is None, self.serve_log()[-3000:]
            try:
                dep = httpx.get(self.api + "/deployments/name/disclose/disclosure", timeout=5)
            except httpx.HTTPError:
                dep = None
            if dep is not None and dep.status_code == 200 and dep.json().get("last_polled"):
                if datetime.fromisoformat(dep.json()["last_polled"]).timestamp() > since:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"footage serve did not poll within {timeout:.0f} s:\n{self.serve_log()[-3000:]}")

    def kill_serve(self) -> None:
        """SIGKILL ``footage serve`` (and any flow run it started): a crash, a reboot."""
        _stop(self.serving, signal.SIGKILL)
        self.serving = None

    def serve_log(self) -> str:
        path = self.root / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="package")
def site(tmp_path_factory):
    """The running site; this process acts as its users' terminal (env and Prefect settings)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    s = Site(tmp_path_factory.mktemp("site"))
    mp = pytest.MonkeyPatch()
    for k, v in s.env().items():
        mp.setenv(k, v)
    mp.delenv("SSH_AUTH_SOCK", raising=False)
    for k in [k for k in os.environ if k.startswith("FOOTAGE_") and k not in s.env() and k != "FOOTAGE_SHARED"]:
        mp.delenv(k)
    try:
        s.start_server()
        s.start_serve()
        with temporary_settings({PREFECT_API_URL: s.api}):
            yield s
    finally:
        _stop(s.serving, signal.SIGKILL)
        s.stop_server()
        mp.undo()


@pytest.fixture(scope="package")
def clip(tmp_path_factory):
    """Short and small: two faces, one of them the requester."""
    faces = [Face(start=(10, 20), end=(60, 40), height=90), Face(start=(230, 140), end=(220, 130), height=80, flip=True)]
    path = make_clip(tmp_path_factory.mktemp("disclose") / "record.mp4", faces, frames=25)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


# --- what the tests do as users --------------------------------------------------------------------


def cli(*args: str, code: int = 0):
    """Run ``footage ARGS`` in this process; check its exit code; the JSON it printed, if any,
    else its output."""
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{result.output}"
    try:
        return json.loads(result.stdout)
    except ValueError:
        return " ".join(result.output.split())  # Rich wraps long lines: compare words


def request(site: Site, clip, user: str = "alice", requester: str = "张三") -> str:
    """``footage disclose request`` (signed by ``user``); returns the run id, waiting for select."""
    path, record = clip
    doc = cli("disclose", "request", "--record", record, "--requester", requester, "--reason", "own copy for a hearing",
              "--file", str(path), "--as", user, "--key", str(site.keys[user]), "--json")
    assert doc["awaiting"] == "select", doc
    return doc["run"]


def run_state(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(__import__("uuid").UUID(run_id))


def wait_for(run_id: str, ok, timeout: float = 180.0, what: str = "the expected state"):
    """Poll the run until ``ok(run)``; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        run = run_state(run_id)
        if ok(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} never reached {what}: {run.state}"
        time.sleep(0.5)


def task_states(run_id: str, task: str) -> list[str]:
    """The state names of every task run of ``task`` in the flow run (Completed, Cached ...)."""
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(run_id)])),
                                     task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=task)))
    return sorted(r.state.name for r in runs if r.name.startswith(task + "-"))


def history(record: str) -> list[dict]:
    from records.history import record_events
    from records.settings import load_settings
    from records.store import open_store

    return record_events(open_store(load_settings()), record)
