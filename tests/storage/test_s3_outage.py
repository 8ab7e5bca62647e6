"""The S3 server stopped in the middle of a real ``footage ingest`` and started again (issue 11,
item 5): every file the outage hit ends as a ``failed`` outcome in the run's JSON and stays in the
inbox; after the gateway is back a rerun stores everything once, with one version per original.

The outage is real: the RADOS Gateway process is stopped (its port refuses connections) with
``scripts/s3-test-server stop-rgw`` and started again with ``start-rgw``. Other tests share the
default server, so this one starts a server of its own (own data dir, own port) and stops only
that one. The moments are chosen with ``FOOTAGE_FAULT=POINT:hold`` (storage/faults.py): the ingest
waits at the point until the test has changed the world, so nothing depends on timings.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_s3_crash_points import ROOT, count, inbox_left, make_inbox, s3_env

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

SCRIPT = ROOT / "scripts" / "s3-test-server"


def _free_port(start: int = 7580) -> int:
    for port in range(start, start + 200, 2):  # the script takes port + 1 for its mon
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0 and s.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise RuntimeError("no free port for a second S3 test server")


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A second S3 test server, only for this module; yields (script env, endpoint)."""
    if not os.environ.get("FOOTAGE_TEST_S3_ENDPOINT"):
        pytest.skip("FOOTAGE_TEST_S3_ENDPOINT is not set: start a server with `eval \"$(scripts/s3-test-server start)\"`")
    if not shutil.which("radosgw"):
        pytest.skip("radosgw is not installed: this test starts an S3 server of its own")
    data = tmp_path_factory.mktemp("s3-own") / "cluster"
    env = dict(os.environ, S3_DATA_DIR=str(data), S3_PORT=str(_free_port()), S3_STORE_BYTES=str(1 << 30),
               S3_NO_INSTALL="1")
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    endpoint = next(line.split("=", 1)[1] for line in started.stdout.splitlines()
                    if line.startswith("export FOOTAGE_TEST_S3_ENDPOINT="))
    try:
        yield env, endpoint
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


def server(env: dict, action: str) -> None:
    r = subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{action}: {r.stderr[-2000:]}"


def wait_for(path: Path, proc: subprocess.Popen, limit_s: float = 400) -> None:
    """Until the ingest says it holds at a point (a deadline against hanging, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ingest ended (rc {proc.returncode}) before {path.name}:\n{out[-2000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"ingest never reached {path.name}")
        time.sleep(0.1)


def test_rgw_stopped_mid_ingest_then_started_again(tmp_path, own_server):
    import boto3
    from botocore.config import Config

    from storage.s3 import S3Store

    env_script, endpoint = own_server
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"outage-{os.getpid()}-{int(time.time())}"
    store = S3Store(bucket, endpoint_url=endpoint, path_style=True, region=region)
    store.init_bucket(default_retention_days=None)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    faults = tmp_path / "faults"
    faults.mkdir()
    env = s3_env(home, bucket, endpoint)
    # one task at a time, so every file after the first original meets the outage; one store
    # attempt per file (botocore still retries each request), no retry waits
    env.update(FOOTAGE_INGEST__CONCURRENCY="1", FOOTAGE_INGEST__STORE_RETRIES="0",
               FOOTAGE_FAULT="store.after_original:hold,audit.before_append:hold", FOOTAGE_FAULT_DIR=str(faults))
    run = subprocess.Popen([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(faults / "store.after_original.held", run)  # the first original is in the bucket
        server(env_script, "stop-rgw")
        (faults / "store.after_original.go").touch()
        wait_for(faults / "audit.before_append.held", run)  # every store has ended, the outcomes not yet written
        server(env_script, "start-rgw")
        (faults / "audit.before_append.go").touch()
        out, err = run.communicate(timeout=400)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        server(env_script, "start-rgw")  # whatever happened, leave the gateway up for the rerun

    summary = json.loads(out)  # the run's JSON, not a traceback
    assert run.returncode == 1, err[-3000:]  # PROBLEM_EXIT: some files failed
    assert not summary.get("error"), err[-6000:]
    media = sorted(n for n in planted if n.endswith(".MP4"))
    assert sorted(f["file"] for f in summary["failed"]) == media
    assert {f["reason"] for f in summary["failed"]} == {"store_failed"}
    assert summary["ingested"] == 0
    assert inbox_left(home) == media  # nothing left the inbox
    assert "Traceback" not in out

    rerun = subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT,
                           env=s3_env(home, bucket, endpoint), capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = json.loads(rerun.stdout)
    assert again["failed"] == [] and again["ingested"] == 3
    assert count(home, store, client, planted) == {
        "lost": [], "bit_for_bit": True, "duplicated": [], "originals": 3, "versions_per_original": [1],
        "stuck": [], "audit_ok": True, "missing_events": [], "quarantine_event": True,
    }
    # the failures of the first run are in the audit log too
    from records.audit import AuditLog

    failed = [e for e in AuditLog(store).events() if e["kind"] == "ingest_failed"]
    assert sorted(e["detail"]["file"] for e in failed) == media
