"""A Dask worker killed mid-run while the ingest writes to a real S3 bucket with Object Lock
(issue 12, item 5): Dask runs the dead worker's task again elsewhere; the recomputed store step
must neither add a second object version nor fail on the locked key. Counted by asking the
server directly (``list_object_versions`` over the whole bucket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from clusterkit import cluster
from faultkit import wait_held, record_counts
from test_s3_crash_points import ROOT, inbox_left, s3_env

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def make_clips(inbox):
    from datetime import timedelta

    from faultkit import T0, sha
    from media.synth import make_clip

    inbox.mkdir(parents=True)
    for i in range(4):
        start = T0 + timedelta(seconds=3 * i)
        make_clip(inbox / f"CAM-5_7005_{start:%Y%m%d%H%M%S}_{i + 1:04d}.MP4", 3, width=320, height=240, fps=15,
                  creation_time=start, seed=40 + i)
    return {p.name: sha(p) for p in inbox.iterdir()}


def test_a_worker_killed_mid_run_on_s3_leaves_one_version_per_object(tmp_path, s3_store, s3_client, s3_endpoint):
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    planted = make_clips(home / "inbox")
    env = s3_env(home, s3_store.bucket, s3_endpoint)
    faults = tmp_path / "faults"
    faults.mkdir()
    # the kill comes after the original and derivatives are stored: the recomputation repeats every put
    worker_env = {"FOOTAGE_FAULT": "store.after_derivatives:hold", "FOOTAGE_FAULT_DIR": str(faults)}
    with cluster(2, tmp_path / "cluster", api_url=PREFECT_API_URL.value(), worker_env=worker_env) as c:
        env.update(c.env)
        run = subprocess.Popen([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        held = faults / "store.after_derivatives.held"
        wait_held(held, run)
        assert held.exists(), run.communicate(timeout=60)[1][-3000:]
        os.kill(int(held.read_text()), 9)
        (faults / "store.after_derivatives.go").write_text("")
        stdout, stderr = run.communicate(timeout=600)
        first = json.loads(stdout)
        assert first["runner"]["workers_lost"], first["runner"]
        rerun = subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    second = json.loads(rerun.stdout)
    assert first["ingested"] + second["ingested"] == len(planted), (first, second)
    versions: Counter = Counter()
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=s3_store.bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            versions[v["Key"]] += 1
    assert versions and {k: n for k, n in versions.items() if n > 1} == {}
    counts = record_counts(s3_store, home, planted)
    assert counts["lost"] == [] and counts["duplicated"] == [] and counts["audit_ok"], counts
    assert counts["missing_events"] == [] and inbox_left(home) == []
