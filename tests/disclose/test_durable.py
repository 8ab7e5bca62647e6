"""Disclosures that survive a restart: the serving process killed (SIGKILL) while a disclosure
waits, an input submitted with nothing serving (reported, not lost), the Prefect server restarted
with its database kept, and a wait past its limit ending as ``expired``, audited.

Real processes throughout: ``prefect server start`` and ``footage serve`` (tests/disclose/conftest.py).
"""

from __future__ import annotations

import time

import pytest

from .conftest import cli, history, request, run_state, task_states, wait_for

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def _awaits(step: str):
    return lambda run: run.state is not None and run.state.is_paused() and (run.state.state_details.pause_key or "").startswith(step + "-")


def test_a_killed_serve_loses_nothing_and_redoes_nothing(site, clip):
    _, record = clip
    run = request(site, clip)
    site.kill_serve()  # SIGKILL while the disclosure waits for the archivist

    # The selection is taken, but nothing runs the flow on: the command says so (exit 1) ...
    out = cli("disclose", "select", run, "--keep", "2", "--as", "alice", "--key", str(site.keys["alice"]), code=1)
    assert "not picked up" in out and "footage serve" in out
    st = cli("disclose", "status", run, "--json", code=1)
    assert st["state"] == "Resuming" and "footage serve" in st["problem"]
    # ... and so does `footage status`.
    doc = cli("status", "--json", "--as", "bob")
    assert [d["id"] for d in doc["disclosures"] if "not picked up" in d["problem"]] == [run]

    site.start_serve()  # a new footage serve picks the run up where it stopped
    wait_for(run, _awaits("approve"), what="the supervisor's decision")
    st = cli("disclose", "approve", run, "--comment", "approved per art. 31", "--as", "bob",
             "--key", str(site.keys["bob"]), "--json")
    receipt = st["receipt"]
    assert st["state"] == "Completed" and receipt["status"] == "released", st
    assert receipt["kept"] == [2] and receipt["decided_by"]["proof"]["signed"] is True

    # Tracks, source and contact sheet were computed once; the two resumed runs read them back.
    for task in ("find-tracks", "fetch-source", "publish-sheet"):
        states = task_states(run, task)
        assert states.count("Completed") == 1 and states.count("Cached") == 2, (task, states)
    kinds = [e["kind"] for e in history(record) if (e.get("detail") or {}).get("run") == run]
    assert kinds.count("disclosure_requested") == 1 and kinds.count("disclosure_selected") == 1
    assert kinds[-1] == "disclosure_released"
    # the signatures kept in the audit log verify again
    assert "intact" in cli("audit", "verify", "--as", "bob")


def test_a_restarted_prefect_server_keeps_the_waiting_disclosure(site, clip):
    run = request(site, clip)
    site.stop_server()
    time.sleep(5)
    site.start_server()  # same database (PREFECT_HOME), same port
    back = time.time()
    assert _awaits("select")(run_state(run))
    # footage serve polls again: its runner recovered, or (when the runner gave up polling after
    # too many failed polls) footage serve restarted itself ("restarting footage serve" in its log)
    site.wait_polling(back, timeout=180)
    cli("disclose", "select", run, "--keep", "2", "--as", "alice", "--key", str(site.keys["alice"]), "--json")
    st = cli("disclose", "reject", run, "--comment", "withdrawn", "--as", "bob", "--key", str(site.keys["bob"]),
             "--json")
    assert st["receipt"]["status"] == "rejected"


def test_a_wait_past_its_limit_expires_audited(site, clip):
    _, record = clip
    site.configure(pause_timeout_hours=4 / 3600)  # 4 s for each wait
    try:
        run = request(site, clip)
    finally:
        site.configure()
    # footage serve's expiry check ends it, without anyone asking
    wait_for(run, lambda r: r.state is not None and r.state.name == "Expired", timeout=60, what="Expired")
    st = cli("disclose", "status", run, "--json")
    assert st["problem"] is None and st["receipt"]["status"] == "expired"
    assert st["receipt"]["expired"]["waited_for"] in ("select-1", None)
    out = cli("disclose", "select", run, "--keep", "2", "--as", "alice", "--key", str(site.keys["alice"]), code=2)
    assert "Expired" in out or "expired" in out
    events = [e for e in history(record) if e["kind"] == "disclosure_expired"]
    assert [e["detail"]["run"] for e in events] == [run]
