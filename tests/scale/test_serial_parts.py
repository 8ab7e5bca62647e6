"""The parts of a run outside the decode passes that overlap other work (issue 12): the inbox's
settle wait runs while the cluster is checked; the preload hook loads what tasks import."""

from __future__ import annotations

import sys
import threading

import pytest


def test_the_flow_takes_the_inbox_look_started_before_it(tmp_path, monkeypatch):
    from flows import looks
    from records import intake

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.MP4").write_bytes(b"x")
    # every look at the inbox counted, and the early one held until the test lets it go: what is
    # checked is which look answers, not how long anything took (no clock: a busy machine is slow)
    looked, go = [], threading.Event()
    real = intake.discover

    def counted(box, settle_seconds):
        looked.append(box)
        assert go.wait(60), "the early look was never let go"
        return real(box, settle_seconds)

    monkeypatch.setattr(intake, "discover", counted)
    key = looks.look_early(inbox, 0.5)
    assert key in looks._looks and not looks._looks[key].done()  # it did not wait here: the look is in its thread
    assert looks.look_early(inbox, 0.5) == key and len(looks._looks) == 1  # started once (CLI, then run_ingest)
    go.set()
    looks._looks[key].result(timeout=60)  # its settle wait passes meanwhile (the cluster check, the flow run ...)
    (inbox / "late.MP4").write_bytes(b"y")  # after both looks: the next run's
    ready, busy = looks.discover(inbox, 0.5)
    assert len(looked) == 1, "the inbox was looked at again (the settle wait paid again)"
    assert ready == [inbox / "a.MP4"] and busy == []
    assert key not in looks._looks
    # no look started: the flow looks itself, as before
    ready, busy = looks.discover(inbox, 0.1)
    assert ready == [inbox / "a.MP4", inbox / "late.MP4"] and len(looked) == 2
    assert looks.look_early(tmp_path / "missing", 0.1) is None


def test_the_early_look_needs_no_prefect():
    """``footage ingest`` starts the look before it imports Prefect: flows.looks must not."""
    import subprocess

    code = "import sys, flows.looks; sys.exit('prefect' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_preload_hook_imports_what_tasks_import():
    from flows import ingest

    ingest.dask_setup(None)
    assert all(name in sys.modules for name in ingest.TASK_IMPORTS)


@pytest.mark.slow
def test_embedded_cluster_takes_the_documented_dask_settings():
    """The embedded cluster runs with the Dask settings docs/scaling.md asks operators for: the
    scheduler holds no task in reserve for a one-thread worker, the workers run no profiler."""
    import dask
    from distributed import Client

    from flows.runner import DASK_CONFIG, local_cluster
    from records.settings import Settings

    cluster = local_cluster(Settings(), 1)
    try:
        with Client(cluster, set_as_default=False) as client:
            on_workers = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
            saturation = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
    finally:
        cluster.close()
    assert list(on_workers.values()) == [DASK_CONFIG["distributed.worker.profile.enabled"]] == [False]
    assert saturation == DASK_CONFIG["distributed.scheduler.worker-saturation"] == 1.0
