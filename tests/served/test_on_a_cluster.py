"""The served ``nightly-ingest`` on an existing Dask cluster (issue 22, item 1): ``footage serve``
with ``FOOTAGE_RUNNER__ADDRESS`` runs the night's tasks on that cluster's workers, nothing else
changed. A real Prefect server, scheduler and worker (tests/clusterkit.py) and a real
``footage serve`` (tests/served/conftest.py); the run is started as its schedule starts it.
"""

from __future__ import annotations

import json

import pytest

from clusterkit import cluster  # tests/ is on sys.path
from media.synth import make_clip
from servekit import NIGHTLY, serving

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_served_nightly_run_uses_the_configured_cluster(tmp_path):
    with cluster(1, tmp_path / "cluster") as c:
        with serving(tmp_path / "serve", {"FOOTAGE_RUNNER__ADDRESS": c.address}, api=c.api_url) as served:
            inbox = served.settings.inbox
            inbox.mkdir(parents=True, exist_ok=True)
            for i in range(2):
                make_clip(inbox / f"CAM-C_0003_2026112009000{2 * i}_000{i + 1}.MP4", 2, width=160, height=120,
                          fps=10, seed=i)
            run, _ = served.run_scheduled(NIGHTLY)
            assert run.state.is_completed(), served.why(run)
            (report,) = served.settings.reports.glob("*/ingest.json")
            summary = json.loads(report.read_text())
            assert summary["flow_run"] == str(run.id) and summary["ingested"] == 2, json.dumps(summary, indent=1)[:3000]
            runner = summary["runner"]
            assert runner["mode"] == "dask" and runner["address"] == c.address and runner["workers"] == 1, runner
            # the files were decoded and stored by the cluster's worker, not by a process of footage serve
            (worker,) = runner["processes"]
            assert {s["worker"] for s in summary["stored"]} == {worker}
            assert int(worker.rsplit(":", 1)[1]) in c.worker_pids(), (worker, c.worker_pids())
            assert list(inbox.iterdir()) == []
