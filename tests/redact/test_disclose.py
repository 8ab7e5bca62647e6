"""The disclosure flow under Prefect's test harness, driven headless the way the CLI drives it:
request -> select -> approve (released), request -> select -> reject, and a planted miss blocked by QA."""

from __future__ import annotations

import hashlib
import json

import av
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli import disclose
from records.settings import load_settings
from records.history import record_events
from records.store import open_store

from .conftest import make_clip, Face

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def users(footage_home, monkeypatch, tmp_path):
    cfg = tmp_path / "footage.toml"
    cfg.write_text('[users]\nalice = ["archivist"]\nbob = ["supervisor"]\nolga = ["operator"]\n', "utf-8")
    monkeypatch.setenv("FOOTAGE_CONFIG", str(cfg))
    monkeypatch.setenv("FOOTAGE_DISCLOSURE__POLL_INTERVAL_S", "1")
    return cfg


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Short and small: two faces, one of them the requester."""
    faces = [Face(start=(10, 20), end=(60, 40), height=90), Face(start=(230, 140), end=(220, 130), height=80, flip=True)]
    path = make_clip(tmp_path_factory.mktemp("disclose") / "record.mp4", faces, frames=25)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _start(clip, **kw) -> tuple[str, dict]:
    path, record = clip
    started = disclose.request(record, "张三", "own copy for a hearing", "alice", file=str(path), background=False,
                               wait=300, **kw)
    assert started["awaiting"] == "select", started
    return started["run"], started


def _kinds(record: str) -> list[str]:
    return [e["kind"] for e in record_events(open_store(load_settings()), record)]


def test_request_select_approve_releases_a_watermarked_copy(prefect_harness, users, clip):
    path, record = clip
    run, started = _start(clip)
    tracks = [t["id"] for t in json.loads((load_settings().home / "disclosures" / run / "tracks.json").read_text())["tracks"]]
    assert len(tracks) == 2
    # Someone without the archivist role cannot select: refused, the flow waits again.
    key = disclose.select(run, "olga", keep=[tracks[1]])
    st = disclose.wait_next(run, key)
    assert st["awaiting"] == "select" and st["pause_key"] == "select-2"
    st = _cli("disclose", "select", run, "--keep", str(tracks[1]), "--as", "alice", "--json")
    assert st["awaiting"] == "approve"
    # The archivist cannot approve her own disclosure.
    key = disclose.decide(run, "alice", True, "looks fine")
    st = disclose.wait_next(run, key)
    assert st["pause_key"] == "approve-2"
    st = _cli("disclose", "approve", run, "--comment", "approved per art. 31", "--as", "bob", "--json")
    assert st["state"] == "Completed", st
    receipt = st["receipt"]
    assert receipt["status"] == "released"
    assert receipt["requested_by"] == {"user": "alice", "via": "cli"}
    assert receipt["decided_by"]["user"] == "bob" and receipt["decided_by"]["via"] == "cli"
    assert receipt["qa"]["passed"] and receipt["kept"] == [tracks[1]]
    assert receipt["source_sha256"] == record
    store = open_store(load_settings())
    info = store.head(receipt["output"]["key"])
    assert info.retain_until is not None and store.verify(info.key, receipt["output"]["sha256"]).ok
    local = load_settings().home / "copy.mp4"
    store.download(info.key, local)
    with av.open(str(local)) as c:
        assert c.metadata["footage_status"] == "released" and c.metadata["footage_disclosed_to"] == "张三"
        assert sum(1 for _ in c.decode(video=0)) == 25
    kinds = _kinds(record)
    for k in ("requested", "input_refused", "selected", "approved", "rendered", "qa", "released"):
        assert f"disclosure_{k}" in kinds


def test_request_select_reject_releases_nothing(prefect_harness, users, clip):
    _, record = clip
    run, _ = _start(clip)
    _cli("disclose", "select", run, "--keep", "", "--as", "alice", "--json")
    st = _cli("disclose", "reject", run, "--comment", "not a party to this record", "--as", "bob", "--json")
    assert st["state"] == "Completed"
    assert st["receipt"]["status"] == "rejected" and "output" not in st["receipt"]
    store = open_store(load_settings())
    assert not [o.key for o in store.list(f"disclosures/{record}/{run}/") if o.key.endswith(".mp4")]
    assert "disclosure_rejected" in _kinds(record)


def test_planted_miss_blocks_the_release(prefect_harness, users, clip):
    """A detector that misses every face (threshold 0.99) leaves faces for QA to find."""
    _, record = clip
    run, _ = _start(clip, detection={"threshold": 0.99})
    _cli("disclose", "select", run, "--as", "alice", "--json")
    st = _cli("disclose", "approve", run, "--as", "bob", "--json")
    assert st["awaiting"] == "qa-override", st
    st = _cli("disclose", "override", run, "--block", "--as", "alice", "--json")
    assert st["receipt"]["status"] == "blocked"
    assert st["receipt"]["qa"]["residuals"] > 0
    store = open_store(load_settings())
    assert not [o.key for o in store.list(f"disclosures/{record}/{run}/") if o.key.endswith(".mp4")]
    assert "disclosure_blocked" in _kinds(record)


def test_cli_request_runs_the_flow_in_its_own_process(prefect_harness, users, clip):
    """``footage disclose request`` returns once the detached flow run waits for the selection."""
    path, record = clip
    st = _cli("disclose", "request", "--record", record, "--requester", "李四", "--reason", "hearing",
              "--file", str(path), "--as", "alice", "--json")
    assert st["awaiting"] == "select"
    assert _cli("disclose", "status", st["run"], "--json")["parameters"]["archivist"] == "alice"
    _cli("disclose", "select", st["run"], "--as", "alice", "--json")
    done = _cli("disclose", "reject", st["run"], "--comment", "withdrawn", "--as", "bob", "--json")
    assert done["receipt"]["status"] == "rejected"


def test_disclosed_copy_shows_no_plate_or_document_and_keeps_the_display(prefect_harness, users, tmp_path):
    """Issue 14's "done when": a released copy of a clip with a plate and a document shows
    neither, and the camera's display still reads (text masked by default in the flow)."""
    from media.text.osd import read_osd
    from media.text.synth import shown_time

    from text.test_redact_text import OSD, SECRETS, _norm, _read_all_text, make_text_clip  # tests/ is on sys.path

    path = make_text_clip(tmp_path / "plate_doc.mp4").path
    text_clip = (path, hashlib.sha256(path.read_bytes()).hexdigest())
    run, _ = _start(text_clip)
    ts = json.loads((load_settings().home / "disclosures" / run / "tracks.json").read_text())
    assert any(t["kind"] == "text" for t in ts["tracks"]) and any(t["kind"] == "osd" for t in ts["tracks"])
    _cli("disclose", "select", run, "--as", "alice", "--json")
    st = _cli("disclose", "approve", run, "--as", "bob", "--json")
    receipt = st["receipt"]
    assert receipt["status"] == "released", receipt
    assert receipt["qa"]["passed"] and receipt["qa"]["text_residuals"] == 0 and receipt["qa"]["text_frames"] > 0
    local = tmp_path / "copy.mp4"
    open_store(load_settings()).download(receipt["output"]["key"], local)
    found = [_norm(t) for t in _read_all_text(local, every=3)]
    assert not [(s, t) for t in found for s in SECRETS if s in t]
    reading = read_osd(local)
    assert reading.stamps and all(stamp == shown_time(OSD, t) for t, stamp in reading.stamps)
