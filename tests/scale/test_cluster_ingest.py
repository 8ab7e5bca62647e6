"""The ingest flow on a real Dask cluster (issue 12): a Prefect server, a scheduler and two worker
processes on 127.0.0.1, started by :mod:`clusterkit`.

* the same clips ingested on the embedded default and on the cluster give the same manifests,
  hashes, findings and stored keys, and the cluster's tasks ran in at least two worker processes;
* a worker killed in the middle of a run: the run says so, a rerun completes, and no stored
  object has two versions;
* no PREFECT_API_URL, an unreachable scheduler, a worker with other code: each refused clearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from clusterkit import ROOT, cluster, prefect_server
from faultkit import wait_held, T0, record_counts, sha
from media.synth import make_clip

pytestmark = pytest.mark.slow

N_CLIPS = 4


def make_clips(inbox: Path) -> dict[str, str]:
    """Two cameras, two chained clips each (one session per camera), and a file that is not media."""
    inbox.mkdir(parents=True)
    for cam in range(2):
        for i in range(N_CLIPS // 2):
            start = T0 + timedelta(hours=cam, seconds=4 * i)
            make_clip(inbox / f"CAM-{cam + 1}_70{cam}1_{start:%Y%m%d%H%M%S}_{i + 1:04d}.MP4", 4, width=320, height=240,
                      fps=15, creation_time=start, seed=10 * cam + i)
    (inbox / "note.txt").write_text("not a video\n")
    return {p.name: sha(p) for p in inbox.iterdir()}


def run_ingest(home: Path, env: dict[str, str], timeout: float = 600) -> tuple[int, dict, str]:
    """``footage ingest --json`` as a user runs it, in its own process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTAGE_", "PREFECT_API_URL"))}
    full = {**base, "FOOTAGE_HOME": str(home), "FOOTAGE_INGEST__SETTLE_SECONDS": "0.1",
            "FOOTAGE_STORAGE__BACKEND": "local", "PREFECT_LOGGING_LEVEL": "WARNING", **env}
    p = subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=full,
                       capture_output=True, text=True, timeout=timeout)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {}
    return p.returncode, doc, p.stderr


def open_local_store(home: Path):
    from records.settings import load_settings
    from records.store import open_store

    return open_store(load_settings(home=home, storage={"backend": "local"}))


def comparable(home: Path) -> dict[str, dict]:
    """Per record: what must not depend on where the work ran."""
    from records.manifest import iter_manifests

    store = open_local_store(home)
    out = {}
    for m in iter_manifests(store):
        doc = m.model_dump(mode="json")
        archive = doc.get("archive") or {}
        out[m.sha256] = {
            "key": doc["stored"]["key"],
            "size": doc["stored"]["size"],
            "session": doc.get("session"),
            "findings": sorted((f["kind"], f.get("start"), f.get("end")) for f in doc.get("findings") or []),
            "qc_events": sorted((e["kind"], e.get("start"), e.get("end")) for e in doc.get("qc_events") or []),
            "derivatives": sorted((d["kind"], d["key"], d["sha256"]) for d in archive.get("stored") or []),
        }
    return out


def versions_per_key(home: Path) -> Counter:
    store = open_local_store(home)
    return Counter({info.key: len(store.versions(info.key)) for info in store.list("")})


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One Prefect server for the module's clusters."""
    with prefect_server(tmp_path_factory.mktemp("prefect")) as (url, _server):
        yield url


def test_cluster_equals_embedded_and_spreads_work(tmp_path, api):
    planted = make_clips(tmp_path / "a" / "inbox")
    make_clips(tmp_path / "b" / "inbox")

    code, embedded, err = run_ingest(tmp_path / "a", {})
    assert code == 0, err[-3000:]
    assert embedded["ingested"] == N_CLIPS and embedded["runner"]["mode"] == "embedded", embedded

    with cluster(2, tmp_path / "cluster", api_url=api) as c:
        code, dist, err = run_ingest(tmp_path / "b", c.env)
        pids = c.worker_pids()
    assert code == 0, err[-3000:]
    assert dist["ingested"] == N_CLIPS and dist["runner"]["mode"] == "dask", dist
    assert dist["runner"]["workers"] == 2 and dist["runner"]["workers_lost"] == []
    used = {int(w.rsplit(":", 1)[1]) for w in dist["runner"]["processes"]}
    assert len(used) >= 2, f"every file ran in one process: {dist['runner']['processes']}"
    assert used <= pids, f"files ran outside the cluster's worker processes: {used - pids}"
    assert os.getpid() not in used

    a, b = comparable(tmp_path / "a"), comparable(tmp_path / "b")
    assert set(a) == {s for n, s in planted.items() if n.endswith(".MP4")}
    assert a == b
    assert [g["device"] for g in embedded["gaps"]] == [g["device"] for g in dist["gaps"]]
    assert sorted(f["kind"] for f in embedded["findings"]) == sorted(f["kind"] for f in dist["findings"])
    counts = record_counts(open_local_store(tmp_path / "b"), tmp_path / "b", planted)
    assert counts["lost"] == [] and counts["duplicated"] == [] and counts["audit_ok"] and counts["missing_events"] == []


def test_a_worker_killed_mid_run(tmp_path, api):
    """The first worker to finish a decode pass holds there; the test kills it (SIGKILL), lets the
    rest go, and counts: nothing lost, nothing stored twice, nothing stuck after a rerun."""
    home = tmp_path / "home"
    planted = make_clips(home / "inbox")
    faults = tmp_path / "faults"
    faults.mkdir()
    worker_env = {"FOOTAGE_FAULT": "preserve.after_decode:hold", "FOOTAGE_FAULT_DIR": str(faults)}
    with cluster(2, tmp_path / "cluster", api_url=api, worker_env=worker_env) as c:
        full = {**{k: v for k, v in os.environ.items() if not k.startswith(("FOOTAGE_", "PREFECT_API_URL"))},
                "FOOTAGE_HOME": str(home), "FOOTAGE_INGEST__SETTLE_SECONDS": "0.1", "FOOTAGE_STORAGE__BACKEND": "local",
                "PREFECT_LOGGING_LEVEL": "WARNING", **c.env}
        run = subprocess.Popen([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=full,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        held = faults / "preserve.after_decode.held"
        wait_held(held, run)
        assert held.exists(), "no worker reached the decode pass"
        victim = int(held.read_text())
        assert victim in c.worker_pids()
        os.kill(victim, 9)
        (faults / "preserve.after_decode.go").write_text("")  # every later holder passes at once
        stdout, stderr = run.communicate(timeout=600)
        first = json.loads(stdout)
        assert run.returncode in (0, 1), stderr[-3000:]
        assert first["runner"]["workers_lost"], first["runner"]  # the run says it lost a worker

        code, second, err = run_ingest(home, c.env)
    assert code == 0, (first, err[-3000:])
    assert first["ingested"] + second["ingested"] == N_CLIPS, (first, second)
    assert not second["failed"], second["failed"]
    counts = record_counts(open_local_store(home), home, planted)
    assert counts["lost"] == [] and counts["duplicated"] == [] and counts["audit_ok"], counts
    assert counts["missing_events"] == [], counts
    many = {k: n for k, n in versions_per_key(home).items() if n > 1}
    assert many == {}, f"objects with more than one version: {many}"
    assert not any(p.suffix == ".MP4" for p in (home / "inbox").iterdir()), "files stuck in the inbox"


def test_refusals(tmp_path, api):
    home = tmp_path / "home"
    make_clips(home / "inbox")
    # a cluster address without a Prefect server
    code, doc, err = run_ingest(home, {"FOOTAGE_RUNNER__ADDRESS": "tcp://127.0.0.1:1"})
    assert code != 0 and "PREFECT_API_URL" in doc["error"]["message"], (doc, err[-2000:])
    # a scheduler nobody listens on
    code, doc, err = run_ingest(home, {"FOOTAGE_RUNNER__ADDRESS": "tcp://127.0.0.1:1", "PREFECT_API_URL": api,
                                       "FOOTAGE_RUNNER__CONNECT_TIMEOUT_S": "3"})
    assert code != 0 and "cannot reach the Dask scheduler" in doc["error"]["message"], doc
    # a worker that runs other code: a copy of the checkout with one file changed
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", "--shared", str(ROOT), str(other)], check=True)
    for package in ("flows", "media", "records", "reports", "storage"):  # this checkout's code, uncommitted work too
        subprocess.run(["cp", "-r", str(ROOT / package), str(other)], check=True)
    (other / "records" / "__init__.py").write_text((other / "records" / "__init__.py").read_text() + "\n# changed\n")
    with cluster(1, tmp_path / "cluster", api_url=api, worker_env={"PYTHONPATH": str(other)}) as c:
        code, doc, err = run_ingest(home, c.env)
    assert code != 0, doc
    assert "install the same version on every worker" in doc["error"]["message"], doc
    assert all(p.suffix == ".MP4" for p in (home / "inbox").iterdir() if p.name != "note.txt")
