"""The crash-point suite of tests/reliability/test_crash_points.py on the S3 backend (issue 11,
item 5): a real ``footage ingest`` killed with SIGKILL at a named point while it writes to a
real Ceph RGW bucket with Object Lock, rerun, and counted: nothing lost, one original key and ONE
object version per SHA-256 (``list_object_versions``, asked of the server directly), nothing
stuck, the audit log whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from faultkit import make_inbox, record_counts


pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parents[2]
# Ceph RGW 16 keeps retain-until dates as 32-bit seconds: the default 2199-12-31 comes back as
# 2063-11-24, which the store reports as RetentionShort (docs/storage.md); stay below 2106
EVIDENCE_UNTIL = "2100-12-31"
# every point an ingest on S3 passes (the local.* points belong to the local backend)
S3_POINTS = ("preserve.after_decode", "store.after_intent", "store.after_original", "store.after_derivatives", "store.after_manifest",
             "audit.before_append", "ingest.after_outcome", "finalize.after_move")


def s3_env(home: Path, bucket: str, endpoint: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTAGE_") or k == "FOOTAGE_SHARED"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="s3", FOOTAGE_STORAGE__BUCKET=bucket,
               FOOTAGE_STORAGE__ENDPOINT_URL=endpoint, FOOTAGE_STORAGE__PATH_STYLE="true",
               FOOTAGE_INGEST__SETTLE_SECONDS="0.1", FOOTAGE_STORAGE__EVIDENCE_UNTIL=EVIDENCE_UNTIL, PREFECT_API_URL=PREFECT_API_URL.value(),
               PREFECT_LOGGING_LEVEL="WARNING")
    return env


def ingest(env: dict[str, str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(env)
    if fault:
        env["FOOTAGE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)


def inbox_left(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "inbox").iterdir() if not p.name.startswith("."))


def count(home: Path, store, s3_client, planted: dict[str, str]) -> dict[str, object]:
    """What the bucket, the inbox, the quarantine and the audit log hold now."""
    # asked of the server, not of our code: every version of every object under originals/
    versions: Counter = Counter()
    pages = s3_client.get_paginator("list_object_versions").paginate(Bucket=store.bucket, Prefix="originals/")
    for page in pages:
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            versions[v["Key"]] += 1
    return {
        **record_counts(store, home, planted),
        "originals": len(list(store.list("originals/"))),
        "versions_per_original": sorted(set(versions.values())),
        "stuck": inbox_left(home),
    }


@pytest.mark.parametrize("point", S3_POINTS)
def test_killed_at_each_point_on_s3_a_rerun_finishes_with_one_version_each(tmp_path, point, s3_store, s3_client,
                                                                             s3_endpoint):
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    env = s3_env(home, s3_store.bucket, s3_endpoint)

    killed = ingest(env, f"{point}:kill")
    assert killed.returncode == -signal.SIGKILL, f"{point} was never reached:\n{killed.stdout[-2000:]}\n{killed.stderr[-3000:]}"

    for _ in range(2):  # at most two reruns
        rerun = ingest(env)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        if not inbox_left(home):
            break
    summary = json.loads(rerun.stdout)
    assert summary["failed"] == []
    assert count(home, s3_store, s3_client, planted) == {
        "lost": [], "bit_for_bit": True, "duplicated": [], "originals": 3, "versions_per_original": [1],
        "stuck": [], "audit_ok": True, "missing_events": [], "quarantine_event": True,
    }

