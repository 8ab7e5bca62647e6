"""Operators hear of a failed night: the Prefect automation that ``footage serve`` keeps ([notify]).

Everything is real: a ``prefect server start`` process (its triggers service runs the automation),
a ``footage serve`` process configured with ``FOOTAGE_NOTIFY__WEBHOOK_URL`` pointing at an HTTP
receiver on 127.0.0.1 in this process, and runs of the ``weekly-fixity-audit`` deployment started
through the API as an operator would (``prefect deployment run``). One completes, one fails (the
store's folder is a file: ``open_store`` raises), one crashes (its process is killed with SIGKILL
while it holds at the ``audit.before_append`` crash point, storage/faults.py). The receiver must
see one POST for each failed or crashed run, naming the run, its deployment and state and linking
to its page, and nothing for the completed one.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from clusterkit import BIN, prefect_server, start_process, stop_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DEPLOYMENT = "fixity-audit/weekly-fixity-audit"
FAULT = "audit.before_append"
NEVER = "0 0 1 1 *"  # the schedules must not start runs of their own during the test


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST: (arrival, epoch seconds; path; JSON body)."""

    url: str = ""
    posts: list[tuple[float, str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict]:
        with self.lock:
            return [b for _, _, b in self.posts]

    def wait(self, n: int, timeout: float = 180.0) -> list[tuple[float, str, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= n:
                    return list(self.posts)
            time.sleep(0.2)
        raise AssertionError(f"the webhook got {len(self.posts)} POSTs within {timeout:.0f} s, expected {n}: "
                             f"{self.bodies()}")


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.posts.append((time.time(), self.path, json.loads(body or b"null")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/footage"
    threading.Thread(target=server.serve_forever, daemon=True, name="webhook-receiver").start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Station:
    """A Prefect server and a ``footage serve`` that notifies ``receiver``."""

    api: str
    home: Path
    faults: Path
    env: dict[str, str]
    serving: object

    def log(self) -> str:
        return (self.home.parent / "serve.log").read_text(errors="replace")[-4000:]


def _wait(check, what: str, timeout: float = 180.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} not seen within {timeout:.0f} s"
        time.sleep(every)


@pytest.fixture(scope="module")
def station(tmp_path_factory, receiver):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tmp = tmp_path_factory.mktemp("notify")
    home, faults = tmp / "home", tmp / "faults"
    faults.mkdir()
    with prefect_server(tmp) as (api, _server):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOOTAGE_"))}
        env = {**base, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp / "prefect-client"),
               "PREFECT_RUNNER_POLL_FREQUENCY": "1", "DO_NOT_TRACK": "1",
               "FOOTAGE_HOME": str(home), "FOOTAGE_STORAGE__BACKEND": "local",
               "FOOTAGE_NOTIFY__WEBHOOK_URL": receiver.url,
               "FOOTAGE_SCHEDULE__INGEST_CRON": NEVER, "FOOTAGE_SCHEDULE__FIXITY_CRON": NEVER,
               "FOOTAGE_SCHEDULE__COMPLIANCE_CRON": NEVER,
               "FOOTAGE_FAULT": f"{FAULT}:hold", "FOOTAGE_FAULT_DIR": str(faults)}
        serving = start_process([str(BIN / "footage"), "serve"], tmp / "serve.log", env)
        s = Station(api=api, home=home, faults=faults, env=env, serving=serving)
        try:
            def polled():
                assert serving.poll() is None, s.log()
                r = httpx.get(f"{api}/deployments/name/{DEPLOYMENT}", timeout=5)
                return r.status_code == 200 and r.json().get("last_polled")

            _wait(polled, "footage serve polling for runs", timeout=240)
            with temporary_settings({PREFECT_API_URL: api}):
                yield s
        finally:
            stop_process(serving)


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _run(timeout: float = 240.0):
    """Start a run of the fixity deployment; return it once it is final."""
    from prefect.deployments import run_deployment

    run = run_deployment(DEPLOYMENT, timeout=0)
    return _wait_final(run.id, timeout)


def _wait_final(run_id: uuid.UUID, timeout: float = 240.0):
    def final():
        with _client() as c:
            r = c.read_flow_run(run_id)
        return r if r.state and r.state.is_final() else None

    return _wait(final, f"a final state of run {run_id}", timeout)


def _automations(name: str):
    with _client() as c:
        return c.read_automations_by_name(name)


def test_failed_and_crashed_runs_reach_the_webhook_completed_ones_do_not(station, receiver):
    from records.settings import NotifySettings

    name = NotifySettings().automation
    assert len(_automations(name)) == 1, "footage serve did not create its automation"

    # 1. a run that completes (the crash point lets it pass)
    (station.faults / f"{FAULT}.go").write_text("")
    done = _run()
    assert done.state.name == "Completed", done.state

    # 2. a run that fails: the store's folder is a file
    store = station.home / "store"
    store.rename(station.home / "store.away")
    store.write_text("not a folder\n")
    failed = _run()
    assert failed.state.name == "Failed", failed.state
    posts = receiver.wait(1)
    _, path, body = posts[0]
    assert path == "/hooks/footage"
    assert set(body) == {"subject", "text"}, body
    assert body["subject"] == f"Footage: weekly-fixity-audit run {failed.name} Failed", body
    text = body["text"]
    assert f"fixity-audit/weekly-fixity-audit: flow run {failed.name} is Failed" in text, text
    assert "File exists" in text or "Not a directory" in text, text  # the state's message: why it failed
    ui = station.api.removesuffix("/api")
    assert f"{ui}/runs/flow-run/{failed.id}" in text, text
    assert done.name not in json.dumps(receiver.bodies())

    # 3. a run that crashes: SIGKILL while it holds at the crash point
    store.unlink()
    (station.home / "store.away").rename(store)
    for f in station.faults.iterdir():
        f.unlink()
    from prefect.deployments import run_deployment

    run = run_deployment(DEPLOYMENT, timeout=0)
    held = station.faults / f"{FAULT}.held"
    pid = int(_wait(lambda: held.exists() and held.read_text(), "the run holding at the crash point"))
    os.kill(pid, signal.SIGKILL)
    crashed = _wait_final(run.id)
    assert crashed.state.name == "Crashed", crashed.state
    posts = receiver.wait(2)
    body = posts[1][2]
    assert body["subject"] == f"Footage: weekly-fixity-audit run {crashed.name} Crashed", body
    assert f"{ui}/runs/flow-run/{crashed.id}" in body["text"], body

    # how long a notification took: from the state the server recorded to the POST
    for (at, _, b), run in zip(posts, (failed, crashed)):
        print(json.dumps(b, ensure_ascii=False, indent=1))
        print(f"notification of {run.state.name} run {run.name}: {at - run.state.timestamp.timestamp():.1f} s "
              "after the server set the state")
    # nothing else came: one POST per failed or crashed run, none for the completed one
    time.sleep(5)
    assert len(receiver.bodies()) == 2, receiver.bodies()


def test_setting_up_twice_leaves_one_automation(station, receiver):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows.deployments import build_deployments
    from flows.notify import ensure_failure_automation, failure_automation, served_names
    from records.settings import load_settings

    settings = load_settings(notify={"webhook_url": receiver.url})
    names = served_names(build_deployments(settings))
    name = settings.notify.automation
    first = ensure_failure_automation(settings, names)
    second = ensure_failure_automation(settings, names)
    assert not first.created and not second.created  # footage serve created it
    assert first.automation_id == second.automation_id and first.block_id == second.block_id
    assert [a.id for a in _automations(name)] == [first.automation_id]

    # a duplicate (two serves starting at once) is removed; the newest is kept
    with _client() as c:
        extra = c.create_automation(failure_automation(settings, names, first.block_id))
    third = ensure_failure_automation(settings, names)
    assert third.removed == 1 and [a.id for a in _automations(name)] == [third.automation_id]

    # a new URL updates the block in place
    moved = load_settings(notify={"webhook_url": receiver.url + "/moved"})
    assert ensure_failure_automation(moved, names).block_id == first.block_id
    block = CustomWebhookNotificationBlock.load(settings.notify.block)
    assert block.secrets.get_secret_value() == {"url": receiver.url + "/moved"}
    assert extra  # (created above)

    # no URL: no automation
    off = ensure_failure_automation(load_settings(), names)
    assert off.automation_id is None and off.removed == 1 and _automations(name) == []
    back = ensure_failure_automation(settings, names)
    assert back.created and len(_automations(name)) == 1


def test_notify_commands(station, receiver, monkeypatch):
    """``footage notify setup`` does what footage serve does; ``footage notify test`` posts from
    here; a template the server refuses is a usage error that says so."""
    from typer.testing import CliRunner

    from flows.cli import app

    for key in [k for k in os.environ if k.startswith("FOOTAGE_") and k != "FOOTAGE_SHARED"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FOOTAGE_HOME", str(station.home))
    monkeypatch.setenv("FOOTAGE_NOTIFY__WEBHOOK_URL", receiver.url)
    runner = CliRunner()

    result = runner.invoke(app, ["notify", "setup", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["automation"] == "footage-failed-runs" and doc["automation_id"] and not doc["created"]
    assert "fixity-audit/weekly-fixity-audit" in doc["deployments"] and len(doc["deployments"]) == 4
    assert [str(a.id) for a in _automations(doc["automation"])] == [doc["automation_id"]]

    before = len(receiver.bodies())
    result = runner.invoke(app, ["notify", "test", "-m", "hello from the test"])
    assert result.exit_code == 0, result.output
    assert receiver.wait(before + 1)[before][2] == {"subject": "Footage: test notification",
                                                    "text": "hello from the test"}

    monkeypatch.setenv("FOOTAGE_NOTIFY__BODY", "{{ flow_run.name ")
    result = runner.invoke(app, ["notify", "setup"])
    assert result.exit_code == 2 and "notify.body is not a valid message template" in result.output, result.output
    [kept] = _automations(doc["automation"])  # left as it was
    assert str(kept.id) == doc["automation_id"] and [a.type for a in kept.actions] == ["send-notification"]

    monkeypatch.setenv("FOOTAGE_NOTIFY__WEBHOOK_URL", "127.0.0.1:8/no-scheme")
    result = runner.invoke(app, ["notify", "test"])
    # a setting that does not validate stops every command (pydantic's ValidationError names it)
    assert result.exit_code != 0 and "webhook_url must be an http" in str(result.exception), result.output
