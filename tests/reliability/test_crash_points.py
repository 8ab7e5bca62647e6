"""Kill a real ``footage ingest`` with SIGKILL at every named crash point, rerun it, and count:
nothing lost, nothing stored twice, nothing stuck, the audit log whole (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from media.synth import make_clip
from faultkit import T0, add_sidecars, locks_shorter_than_manifest, make_inbox, record_counts, sha
from storage.faults import POINTS

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def ingest(home: Path, fault: str | None = None, command: list[str] | None = None) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTAGE_") or k == "FOOTAGE_SHARED"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="local", FOOTAGE_INGEST__SETTLE_SECONDS="0.1",
               PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="WARNING")
    if fault:
        env["FOOTAGE_FAULT"] = fault
    return subprocess.run(command or [sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def count(home: Path, planted: dict[str, str]) -> dict[str, object]:
    """What the store, the inbox, the quarantine, the scratch and the audit log hold now."""
    from storage import LocalStore

    return {
        **record_counts(LocalStore(home / "store"), home, planted),
        "stuck": [p.name for p in (home / "inbox").iterdir() if not p.name.startswith(".")],
        "scratch": sorted(str(p.relative_to(home)) for p in (home / "work").rglob("*") if p.is_file()),
    }


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_point_a_rerun_finishes_with_nothing_lost(tmp_path, point):
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")

    killed = ingest(home, f"{point}:kill")
    assert killed.returncode == -signal.SIGKILL, f"{point} was never reached:\n{killed.stdout[-2000:]}\n{killed.stderr[-3000:]}"

    for _ in range(2):  # at most two reruns
        rerun = ingest(home)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        if not [p for p in (home / "inbox").iterdir() if not p.name.startswith(".")]:
            break
    summary = json.loads(rerun.stdout)
    assert summary["failed"] == []
    assert count(home, planted) == {
        "lost": [], "bit_for_bit": True, "duplicated": [], "stuck": [], "audit_ok": True, "missing_events": [],
        "quarantine_event": True, "scratch": [],
    }


def test_a_new_sidecar_after_a_crash_does_not_store_the_original_twice(tmp_path):
    """Killed after the original is stored; a sidecar naming another device appears before the rerun."""
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    assert ingest(home, "store.after_original:kill").returncode == -signal.SIGKILL
    add_sidecars(home / "inbox", planted, {"device": "CAM-9"})
    assert ingest(home).returncode == 0
    c = count(home, planted)
    assert c["duplicated"] == [] and c["lost"] == [] and c["stuck"] == []


def start_ingest(home: Path) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTAGE_") or k == "FOOTAGE_SHARED"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="local", FOOTAGE_INGEST__SETTLE_SECONDS="0.1",
               PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_started_together_share_the_inbox_without_a_crash(tmp_path):
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    runs = [start_ingest(home) for _ in range(2)]
    results = [(r.wait(timeout=300), *r.communicate()) for r in runs]
    for code, out, err in results:
        assert code == 0, out[-3000:] + err[-3000:]
    summaries = [json.loads(out) for _, out, _ in results]
    # every file taken by exactly one of them (the other saw it leased, or found it already done)
    assert sum(s["ingested"] for s in summaries) == 3
    assert sum(len(s["quarantined"]) for s in summaries) == 1
    assert count(home, planted) == {
        "lost": [], "bit_for_bit": True, "duplicated": [], "stuck": [], "audit_ok": True, "missing_events": [],
        "quarantine_event": True, "scratch": [],
    }
    assert not list((home / "inbox" / ".footage-leases").glob("*"))  # every lease released


def test_a_fifo_and_names_in_chinese_with_spaces(tmp_path):
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    made = T0 + timedelta(hours=1)
    clip = make_clip(inbox / "执法记录仪 7_张三_20261120180000.MP4", 2, width=160, height=120, fps=10, seed=9)
    os.mkfifo(inbox / "pipe.MP4")
    (inbox / "..DSJ-A01_1001_20261120180000_0001.MP4").write_bytes(b"renamed by hand, hidden by mistake")
    result = ingest(home)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert [(q["file"], q["reason"]) for q in summary["quarantined"]] == [("pipe.MP4", "not_a_file")]
    (stored,) = summary["stored"]
    assert stored["file"] == clip.name and stored["sha256"] == planted_sha(home, stored["sha256"])
    from records.manifest import load_manifest
    from storage import LocalStore

    rec = load_manifest(LocalStore(home / "store"), stored["sha256"]).recording
    assert (rec.device_id, rec.officer_id, rec.start_source.value) == ("执法记录仪 7", "张三", "filename")
    assert rec.start == made.astimezone(rec.start.tzinfo)
    assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
    # a hidden file is never ingested, but it is listed, not left unseen
    assert summary["hidden"] == ["..DSJ-A01_1001_20261120180000_0001.MP4"]
    assert (inbox / "..DSJ-A01_1001_20261120180000_0001.MP4").exists()


def planted_sha(home: Path, sha256: str) -> str:
    """The SHA-256 of the processed copy (the original moved out of the inbox)."""
    (path,) = [p for p in (home / "processed").rglob("*.MP4")]
    return sha(path)


def test_storage_unreachable_is_a_clear_run_error_and_every_file_stays(tmp_path):
    """S3 configured but nothing answers: exit 1, the documented JSON with `error`, a report, no
    traceback, and the inbox untouched for the next run."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTAGE_", "AWS_")) or k == "FOOTAGE_SHARED"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="s3", FOOTAGE_STORAGE__ENDPOINT_URL="http://127.0.0.1:9",
               FOOTAGE_STORAGE__PATH_STYLE="true", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y",
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="2", FOOTAGE_INGEST__SETTLE_SECONDS="0.1",
               PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="CRITICAL")
    result = subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["error"]["reason"] and summary["ingested"] == 0 and summary["failed"] == []
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (home / "inbox").iterdir()) == sorted(planted)
    (report,) = (home / "reports").glob("*/ingest.md")
    assert "The run failed" in report.read_text()


def test_an_unreadable_file_is_a_failed_outcome_and_stays_for_the_next_run(tmp_path):
    """Permission denied (a real EACCES: root without its DAC override capabilities, via
    util-linux setpriv) beside good files: the run goes on, the file stays, the rerun takes it."""
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    locked = sorted((home / "inbox").glob("*.MP4"))[1]
    locked.chmod(0)
    cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "flows", "ingest", "--json"]
    first = ingest(home, command=cmd)
    assert first.returncode == 1, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert [(f["file"], f["reason"]) for f in summary["failed"]] == [(locked.name, "unreadable")]
    assert summary["ingested"] == 2 and locked.exists()
    locked.chmod(0o644)
    assert ingest(home).returncode == 0
    c = count(home, planted)
    assert (c["lost"], c["duplicated"], c["stuck"], c["audit_ok"], c["missing_events"]) == ([], [], [], True, [])


def test_a_killed_run_leaves_no_temporary_prefect_server_behind(tmp_path):
    """Without PREFECT_API_URL each run starts a temporary Prefect server; kill -9 orphans it
    (about 220 MB and a port). The next run stops it."""
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("FOOTAGE_") or k == "FOOTAGE_SHARED") and k != "PREFECT_API_URL"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="local", FOOTAGE_INGEST__SETTLE_SECONDS="0.1",
               PREFECT_LOGGING_LEVEL="WARNING")
    cmd = [sys.executable, "-m", "flows", "ingest", "--json"]

    def run(extra: dict[str, str], name: str) -> tuple[int, str]:
        # output to files, not pipes: the orphaned server would hold a pipe open after the kill
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with open(out, "w") as o, open(err, "w") as e:
            code = subprocess.run(cmd, cwd=ROOT, env={**env, **extra}, stdout=o, stderr=e, timeout=300).returncode
        return code, err.read_text()

    # a point the run's own process passes (audit): only that process dies, its server lives on
    # (a point in a worker process stands for a power cut and takes the whole run with it)
    code, err = run({"FOOTAGE_FAULT": "audit.before_append:kill"}, "killed")
    assert code == -signal.SIGKILL, err[-3000:]
    (note,) = (home / "run").glob("prefect-server.*.json")
    servers = json.loads(note.read_text())["server_pids"]
    assert servers and all(Path(f"/proc/{pid}").exists() for pid in servers)  # the leak is real

    code, err = run({}, "rerun")
    assert code == 0, err[-3000:]
    assert "stopped the temporary Prefect server" in err
    for pid in servers:  # SIGTERM sent by the rerun; wait for the process to go (bounded)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the orphaned Prefect server {pid} still runs")
    assert list((home / "run").glob("prefect-server.*.json")) == []
    assert count(home, planted)["lost"] == []


def test_a_full_scratch_disk_leaves_every_file_for_the_next_run(tmp_path):
    """The archive copies are made on local scratch (FOOTAGE_HOME/work); on a full disk (a 16 KiB
    tmpfs) the files are failed outcomes, left in the inbox, and a rerun with room stores them."""
    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    work = home / "work"
    work.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(work)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        first = ingest(home)
    finally:
        subprocess.run(["umount", str(work)], check=True)
    assert first.returncode == 1, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert sorted(f["reason"] for f in summary["failed"]) == ["archive_failed"] * 3 and summary["ingested"] == 0
    assert len([p for p in (home / "inbox").iterdir() if p.suffix == ".MP4"]) == 3
    assert ingest(home).returncode == 0
    assert count(home, planted) == {
        "lost": [], "bit_for_bit": True, "duplicated": [], "stuck": [], "audit_ok": True, "missing_events": [],
        "quarantine_event": True, "scratch": [],
    }


def test_a_put_killed_half_way_leaves_no_temporary_file_in_the_store(tmp_path):
    """Killed between the metadata and the data of a put (`local.after_meta`): the data's temporary
    file in `store/.tmp` belongs to a process that is gone; the next run's store clears it
    (issue 23, item 6b). A temporary file of a live writer stays."""
    from storage import LocalStore

    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    assert ingest(home, "local.after_meta:kill").returncode == -signal.SIGKILL
    left = list((home / "store" / ".tmp").iterdir())
    assert left  # what the kill leaves behind
    assert ingest(home).returncode == 0
    assert [p.name for p in left if p.exists()] == []
    c = count(home, planted)
    assert (c["lost"], c["duplicated"], c["stuck"]) == ([], [], [])

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        busy = home / "store" / ".tmp" / f"{LocalStore.temp_prefix(live.pid)}busy"
        busy.write_bytes(b"being written")
        LocalStore(home / "store")
        assert busy.exists()
    finally:
        live.kill()
        live.wait()
    LocalStore(home / "store")
    assert not busy.exists()


def test_a_category_sidecar_after_a_crash_raises_the_lock_of_what_was_stored(tmp_path):
    """Killed after the originals are stored (locked to the routine date); a sidecar then says
    `evidence`: the rerun's put of the same bytes extends the stored lock to the permanent date the
    manifest records (issue 23, item 2), and the fixity audit finds nothing wrong."""
    from storage import LocalStore

    home = tmp_path / "home"
    planted = make_inbox(home / "inbox")
    assert ingest(home, "store.after_original:kill").returncode == -signal.SIGKILL
    add_sidecars(home / "inbox", planted, {"category": "evidence"})
    assert ingest(home).returncode == 0
    store = LocalStore(home / "store")
    assert locks_shorter_than_manifest(store) == []
    c = count(home, planted)
    assert (c["lost"], c["duplicated"], c["stuck"]) == ([], [], [])
    audit = ingest(home, command=[sys.executable, "-m", "flows", "storage", "audit", "--json"])
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]


def test_a_folder_named_like_a_recording_is_reported_not_left_unseen(tmp_path):
    """An upload that made an empty folder `X.MP4` (or one holding only hidden files) instead of the
    file: nothing to ingest, but it is listed in `hidden` (with a trailing slash) and in the
    report, like a hidden file (issue 23, item 6d). A folder of another name is not."""
    home = tmp_path / "home"
    inbox = home / "inbox"
    (inbox / "DSJ-A01_1001_20261120180000_0001.MP4").mkdir(parents=True)
    (inbox / "day 2" / "DSJ-A01_1001_20261121180000_0002.mov" / ".partial").mkdir(parents=True)
    (inbox / "empty folder").mkdir()
    result = ingest(home)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["hidden"] == ["DSJ-A01_1001_20261120180000_0001.MP4/",
                                 "day 2/DSJ-A01_1001_20261121180000_0002.mov/"]
    (report,) = (home / "reports").glob("*/ingest.md")
    assert "`DSJ-A01_1001_20261120180000_0001.MP4/`" in report.read_text()
