"""The ingest flow end to end under Prefect's test harness, on the local backend."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from media.demo import build_demo_inbox
from media.synth import make_clip

# every ingest run below starts the embedded Dask cluster (worker processes): those tests are marked slow
pytestmark = pytest.mark.usefixtures("prefect_harness")


def run(inbox: Path | None = None) -> dict:
    from flows.ingest import run_ingest

    return run_ingest(inbox).to_json_dict()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def task_run_counts(expected_total: int, runs_out: list | None = None) -> dict[str, int]:
    """Task runs of the latest ingest flow run, by task name, read back from Prefect's API
    (the runs themselves appended to ``runs_out``).

    Prefect 3 records task runs from events, asynchronously: poll until they are all in.
    """
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async def read() -> dict[str, int]:
        async with get_client() as client:
            (latest,) = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["footage-ingest"])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[latest.id])))
            counts: dict[str, int] = {}
            for r in runs:
                name = r.name.rsplit("-", 1)[0]
                counts[name] = counts.get(name, 0) + 1
            assert latest.state.is_completed()
            if runs_out is not None:
                runs_out[:] = runs
            return counts

    deadline = time.monotonic() + 60
    while True:
        counts = asyncio.run(read())
        if sum(counts.values()) >= expected_total or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def moved_out(expected: int) -> list[tuple]:
    """(time, file) of each file the latest ingest flow run moved out of the inbox, from its log
    lines ("moved out of the inbox: a, b") read back from Prefect's API; logs arrive in batches,
    so poll until ``expected`` files are named (or a while has passed)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    async def read() -> list[tuple]:
        async with get_client() as client:
            (latest,) = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["footage-ingest"])),
                                                    sort=FlowRunSort.START_TIME_DESC, limit=1)
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[latest.id])), limit=200)
            lines = [(r.timestamp, r.message.split(": ", 1)[1]) for r in logs if r.message.startswith("moved out of the inbox: ")]
            return [(t, f) for t, files in lines for f in files.split(", ")]

    deadline = time.monotonic() + 30
    while len(found := asyncio.run(read())) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


@pytest.mark.slow
def test_files_are_verified_while_others_are_still_decoded(footage_home):
    """Pipelining: a short session's files are verified, audited and moved out before the decode
    pass of a long recording of another camera, submitted after them, has ended."""
    from records.settings import load_settings

    settings = load_settings()
    inbox = settings.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    make_clip(inbox / "CAM-A_0001_20261120090000_0001.MP4", 2, width=160, height=120, fps=10, seed=1)
    make_clip(inbox / "CAM-A_0001_20261120090002_0002.MP4", 2, width=160, height=120, fps=10, seed=2)
    make_clip(inbox / "CAM-B_0002_20261120100000_0001.MP4", 60, width=640, height=360, fps=30, seed=3)
    summary = run()
    assert summary["ingested"] == 3, summary
    runs: list = []
    task_run_counts(13, runs)  # intake, preserve (decode + store), commit: 3 each; earlier, segment; gaps 2
    ends: dict[str, list] = {}
    for r in runs:
        ends.setdefault(r.name.rsplit("-", 1)[0], []).append(r.end_time)
    assert len(ends["preserve"]) == 3 and len(ends["commit"]) == 3  # commit: the manifest, then the verification
    # two of the three files were verified, and moved out, before the long file's decode pass ended
    long_pass = max(ends["preserve"])
    assert sum(t < long_pass for t in ends["commit"]) == 2, ends
    moves = moved_out(3)
    assert sorted(f for _, f in moves) == sorted(s["file"] for s in summary["stored"])
    assert any(t < long_pass for t, _ in moves), (moves, long_pass)


@pytest.mark.slow
def test_demo_inbox_end_to_end(footage_home):
    from records.settings import load_settings
    from storage import LocalStore

    settings = load_settings()
    made = build_demo_inbox(settings.inbox)
    originals = {p.name: sha(p) for p in made}
    summary = run()

    assert summary["seen"] == 8
    assert summary["ingested"] == 6 and summary["duplicates"] == 0
    assert sorted((q["file"], q["reason"]) for q in summary["quarantined"]) == [
        ("DSJ-A01_1001_20261126110000_0005.MP4", "truncated"),
        ("notes.txt", "not_media"),
    ]
    assert [(s["device"], s["recordings"], s["gaps"]) for s in summary["sessions"]] == [("DSJ-A01", 4, 1), ("DSJ-B02", 2, 0)]
    (gap,) = summary["gaps"]
    assert gap["device"] == "DSJ-A01" and gap["seconds"] == pytest.approx(40, abs=0.01)
    assert gap["start"].startswith("2026-11-26T01:00:18") and gap["end"].startswith("2026-11-26T01:00:58")
    assert [e["kind"] for e in summary["events"]] == ["overlap"]

    # one task run per file per task (intake: validate + probe; preserve: decode pass + store;
    # commit: commit + verify), the session rules once per session, read back from Prefect's API;
    # audit and finalize run in the flow's own process, not as task runs
    counts = task_run_counts(24)
    assert counts == {"intake": 8, "earlier": 1, "segment": 1, "preserve": 6, "gaps": 2, "commit": 6}
    # the run's log names every file it moved out of the inbox (that each group was audited
    # first is the crash-point suite's: tests/reliability, audit.before_append)
    assert sorted(f for _, f in moved_out(6)) == sorted(s["file"] for s in summary["stored"])

    assert "DSJ-A01" in latest_artifact("footage-ingest-report")

    # every original kept bit for bit: stored, and moved to processed/ only after verification
    store = LocalStore(settings.store_root)
    for item in summary["stored"]:
        assert store.verify(item["key"], item["sha256"]).ok
        assert originals[Path(item["file"]).name] == item["sha256"]
        manifest = json.loads(store.get_bytes(f"manifests/{item['sha256']}.json"))
        assert manifest["stored"]["key"] == item["key"]
        assert manifest["recording"]["sha256"] == item["sha256"]
        # H.264 sources get a lossless remux master and an access copy, each stored and verified
        kinds = {d["kind"]: d for d in manifest["archive"]["stored"]}
        assert manifest["archive"]["action"] == "remux" and set(kinds) == {"master", "access"}
        for d in kinds.values():
            assert store.verify(d["key"], d["sha256"]).ok
    assert list(settings.inbox.iterdir()) == []
    assert [p for p in (settings.home / "work").rglob("*") if p.is_file()] == []  # work copies removed
    processed = {p.name for p in settings.processed.rglob("*")
                 if p.is_file() and not any(part.startswith(".") for part in p.relative_to(settings.processed).parts)}
    assert len(processed) == 7  # six recordings and one sidecar
    # beside them, what each recording was when hashed (a change after the move brings it back)
    assert len(list(settings.processed.rglob(".footage-stamps/*.json"))) == 6
    for q in summary["quarantined"]:
        moved = Path(q["moved_to"])
        assert sha(moved) == originals[q["file"]]
        reason = json.loads(moved.with_name(moved.name + ".reason.json").read_text())
        assert reason["reason"] == q["reason"] and reason["original_name"] == q["file"]

    # reports
    day_dirs = list(settings.reports.iterdir())
    (day,) = day_dirs
    report = (day / "ingest.md").read_text()
    assert "入库报告 / Ingest report" in report and "DSJ-A01" in report and "truncated" in report
    assert json.loads((day / "ingest.json").read_text())["ingested"] == 6

    # the run's audit segments chain and verify, naming every stored record
    from records.audit import open_audit

    audit = open_audit(settings, store)
    assert audit.verify().ok
    kinds = [(e["kind"], e.get("record")) for e in audit.events()]
    assert sorted(k for k, r in kinds if k == "stored") == ["stored"] * 6
    assert {r for k, r in kinds if k == "verified"} == {i["sha256"] for i in summary["stored"]}
    assert sum(k == "quarantined" for k, _ in kinds) == 2
    # findings of the decode-level checks: the demo's tone is no speech, so articles 20 and 21 are flagged
    finding_kinds = {f["kind"] for f in summary["findings"]}
    assert {"missing_opening_statement", "unexplained_interruption"} <= finding_kinds
    assert all(Path(s["gaps_report"]).exists() for s in summary["sessions"])

    # rerun over the same (now empty) inbox: nothing happens
    again = run()
    assert again["seen"] == 0 and again["stored"] == []

    # the same files dropped in again are duplicates, stored nothing twice, and leave the inbox
    records = lambda: sorted(o.key for o in store.list() if not o.key.startswith("audit/"))  # noqa: E731
    before = records()
    for p in sorted(settings.processed.rglob("*.MP4"))[:2]:
        shutil.copy(p, settings.inbox / p.name)
    dup = run()
    assert dup["ingested"] == 0 and dup["duplicates"] == 2 and dup["stored"] == []
    assert records() == before
    assert list(settings.inbox.iterdir()) == []


@pytest.mark.slow
def test_a_session_split_across_two_runs_is_checked_as_one(footage_home):
    """A camera docked twice: the second run joins its files to the session stored by the first."""
    from records.settings import load_settings

    settings = load_settings()
    made = build_demo_inbox(settings.inbox)
    later = [p for p in made if "DSJ-A01" in p.name and p.name.endswith(("_0003.MP4", "_0004.MP4", "_0005.MP4"))]
    held = settings.home / "held"
    held.mkdir()
    for p in later:
        p.rename(held / p.name)
    first = run()
    assert [(s["device"], s["recordings"]) for s in first["sessions"]] == [("DSJ-A01", 2), ("DSJ-B02", 2)]
    assert first["gaps"] == []
    for p in later:
        (held / p.name).rename(settings.inbox / p.name)
    second = run()
    assert second["ingested"] == 2
    (session,) = second["sessions"]
    assert session["id"] == first["sessions"][0]["id"] and session["recordings"] == 4
    (gap,) = second["gaps"]
    assert gap["seconds"] == pytest.approx(40, abs=0.01) and gap["before"].endswith("_0003.MP4")
    # the opening statement is judged on the session's real start, once, not again at the second dock
    openings = [f for f in second["findings"] if f["kind"] == "missing_opening_statement"]
    assert len(openings) == 1 and openings[0]["file"].endswith("_0001.MP4")


def latest_artifact(key: str) -> str:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read() -> str:
        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
            )
            return arts[0].data if arts else ""

    return asyncio.run(read())


def _bad_inputs(inbox: Path) -> dict[str, str]:
    """Each kind of bad input, by file name -> expected reason."""
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "empty.mp4").touch()
    (inbox / "letter.mp4").write_text("a letter, not a video")
    cut = make_clip(inbox / "cut.mp4", 3)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    make_clip(inbox / "huge.mp4", 1, width=320, height=240, audio=False)  # above the test's max width
    shutil.copy(make_clip(inbox.parent / "ok.mp4", 1, seed=3), inbox / "bell\x07\x1b[2J.mp4")
    shutil.copy(make_clip(inbox.parent / "ok2.mp4", 1, seed=4), inbox / "-rf.mp4")
    os.symlink("/etc/hostname", inbox / "link.mp4")
    sub = inbox / "dev1"
    sub.mkdir()
    make_clip(sub / "fine.mp4", 1, width=160, height=120, seed=5)
    old = time.time() - 2 * 86400  # bad files of two days ago: no stalled upload that may yet grow
    for name in ("empty.mp4", "letter.mp4", "cut.mp4"):
        os.utime(inbox / name, (old, old))
    return {
        "empty.mp4": "empty",
        "letter.mp4": "not_media",
        "cut.mp4": "truncated",
        "huge.mp4": "absurd_dimensions",
        "bell\x07\x1b[2J.mp4": "hostile_name",
        "-rf.mp4": "hostile_name",
        "link.mp4": "not_a_file",
    }


@pytest.mark.slow
def test_every_bad_input_is_quarantined_and_the_run_goes_on(footage_home, monkeypatch):
    from records.settings import load_settings

    monkeypatch.setenv("FOOTAGE_INGEST__MAX_WIDTH", "200")
    settings = load_settings()
    expected = _bad_inputs(settings.inbox)
    digests = {n: sha(settings.inbox / n) for n in expected if n != "link.mp4"}
    summary = run()
    got = {q["file"]: q["reason"] for q in summary["quarantined"]}
    assert got == expected
    assert summary["ingested"] == 1 and summary["stored"][0]["file"] == "dev1/fine.mp4"
    for q in summary["quarantined"]:
        moved = Path(q["moved_to"])
        assert moved.parent == settings.quarantine
        assert all(c.isprintable() for c in moved.name)  # no control characters leave the inbox
        if q["file"] in digests:
            assert sha(moved) == digests[q["file"]]  # quarantined, never altered or lost
    assert os.path.realpath(Path([q for q in summary["quarantined"] if q["file"] == "link.mp4"][0]["moved_to"])) == "/etc/hostname"


@pytest.mark.slow
def test_a_store_failure_leaves_the_file_in_the_inbox(footage_home, monkeypatch):
    from records.settings import load_settings

    monkeypatch.setenv("FOOTAGE_INGEST__STORE_RETRIES", "1")
    monkeypatch.setenv("FOOTAGE_INGEST__RETRY_DELAYS_S", "[0]")
    settings = load_settings()
    settings.ensure_layout()
    clip = make_clip(settings.inbox / "cam.mp4", 1)
    # a file where the originals/ folder should be makes every put fail
    (settings.store_root / "objects").mkdir(parents=True, exist_ok=True)
    (settings.store_root / "objects" / "originals").write_text("in the way")
    summary = run()
    assert summary["ingested"] == 0
    (failed,) = summary["failed"]
    assert failed["file"] == "cam.mp4" and failed["reason"] == "store_failed"
    assert clip.exists() and list(settings.processed.rglob("*.mp4")) == []


@pytest.mark.slow
def test_files_still_being_written_are_left_for_the_next_run(footage_home, monkeypatch):
    from records.intake import discover

    monkeypatch.setenv("FOOTAGE_INGEST__SETTLE_SECONDS", "1.0")
    inbox = footage_home / "inbox"
    inbox.mkdir(parents=True)
    done = make_clip(inbox / "done.mp4", 1)
    growing = inbox / "growing.mp4"
    growing.write_bytes(b"\0" * 1000)
    (inbox / "done.mp4.json").write_text("{}")
    (inbox / ".partial.mp4.tmp").write_bytes(b"x")
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with open(growing, "ab") as f:
                f.write(b"\0" * 100)
            time.sleep(0.1)

    t = threading.Thread(target=writer)
    t.start()
    try:
        ready, busy = discover(inbox, 1.0)
    finally:
        stop.set()
        t.join()
    assert ready == [done] and busy == [growing]


@pytest.mark.slow
def test_identical_files_in_one_run_are_stored_once(footage_home):
    from records.settings import load_settings

    settings = load_settings()
    settings.inbox.mkdir(parents=True)
    clip = make_clip(settings.inbox / "a.mp4", 1, seed=9)
    shutil.copy(clip, settings.inbox / "copy-of-a.mp4")
    summary = run()
    assert summary["ingested"] == 1 and summary["duplicates"] == 1
    assert list(settings.inbox.iterdir()) == []
    # the same bytes arriving twice more, in a later run, are both duplicates of the stored record
    for name in ("b.mp4", "c.mp4"):
        shutil.copy(settings.processed.rglob("a.mp4").__next__(), settings.inbox / name)
    again = run()
    assert again["ingested"] == 0 and again["duplicates"] == 2 and list(settings.inbox.iterdir()) == []


@pytest.mark.slow
def test_a_stalled_upload_waits_for_the_rest_before_quarantine(footage_home, monkeypatch):
    """A camera upload that stopped half-way: kept in the inbox for the next run, quarantined
    only once it is older than ingest.incomplete_wait_s; a text file is no upload and goes."""
    from records.settings import load_settings

    settings = load_settings()
    settings.ensure_layout()
    part = make_clip(settings.inbox / "DSJ-D04_4004_20261126080000_0001.MP4", 3, seed=7)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])  # the rest never arrived (yet)
    (settings.inbox / "notes.txt").write_text("not a video")
    first = run()
    assert first["still_writing"] == ["DSJ-D04_4004_20261126080000_0001.MP4"]
    assert [q["file"] for q in first["quarantined"]] == ["notes.txt"]
    assert part.exists()

    monkeypatch.setenv("FOOTAGE_INGEST__INCOMPLETE_WAIT_S", "0")  # as if an hour had gone by
    second = run()
    assert [(q["file"], q["reason"]) for q in second["quarantined"]] == [("DSJ-D04_4004_20261126080000_0001.MP4", "truncated")]
    assert second["still_writing"] == [] and not part.exists()


@pytest.mark.slow
def test_a_task_reports_its_own_failure_after_prefects_retries():
    """A task raises while Prefect has retries left for it, and on its last attempt returns a
    failed outcome naming the step (``last_attempt``): Prefect's retries, a typed result, and
    the flow reads it with ``.result()`` as any other outcome."""
    from prefect import flow, task

    from flows.ingest import failed, last_attempt
    from records.intake import Outcome

    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky_verify(out: Outcome) -> Outcome:
        try:
            attempts.append(1)
            raise OSError("the bucket did not answer")
        except OSError as exc:
            if not last_attempt():
                raise
            return failed(out, "verify", exc)

    @flow
    def one() -> Outcome:
        return flaky_verify.submit(Outcome(file="cam.mp4", path="/inbox/cam.mp4")).result()

    out = one()
    assert len(attempts) == 3  # the first attempt and Prefect's two retries
    assert (out.status.value, out.reason) == ("failed", "verify_failed")
    assert out.message == "verify of cam.mp4 failed: the bucket did not answer; the file stays in the inbox"


@pytest.mark.slow
def test_a_step_without_a_task_run_of_its_own_keeps_its_retries():
    """The store and the audit append run inside other task runs; their retries (tenacity) try
    again after the configured delays, log each retry, and raise the error after the last."""
    from prefect import flow

    from flows.ingest import retrying

    calls: list[object] = []  # "attempt", and the seconds each wait between attempts asked for

    def flaky(fails: int) -> str:
        calls.append("attempt")
        attempts = calls.count("attempt")
        if attempts <= fails:
            raise OSError(f"attempt {attempts} failed")
        return "stored"

    @flow
    def step(retries: int, fails: int) -> str:
        attempts = retrying("store of cam.mp4", retries, [0.2, 0.4])
        # the waits recorded, not slept: the delays are checked without reading a clock
        attempts.sleep = lambda seconds: calls.append(float(seconds))
        return attempts(flaky, fails)

    assert step(3, 2) == "stored"
    assert calls == ["attempt", 0.2, "attempt", 0.4, "attempt"]  # the delays, in order, between the attempts
    calls.clear()
    with pytest.raises(OSError, match="attempt 3 failed"):  # the last error itself, not tenacity's
        step(2, 5)
    assert calls == ["attempt", 0.2, "attempt", 0.4, "attempt"]  # two retries, then the error
    calls.clear()
    with pytest.raises(OSError, match="attempt 1 failed"):
        step(0, 1)  # FOOTAGE_INGEST__STORE_RETRIES=0: one attempt
    assert calls == ["attempt"]
