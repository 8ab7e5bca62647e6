"""The disclosure flow end to end, as its users drive it: signed CLI inputs against a real Prefect
server and a real ``footage serve`` (tests/disclose/conftest.py), in multi-user mode.

request -> select -> approve (released, signatures re-verified by ``footage audit verify``),
refusals (a role missing, separation of duties for a user holding both roles, an unsigned UI
form, no key), reject, a planted miss blocked by QA, and a clip with a plate and a document.
"""

from __future__ import annotations

import json

import av
import pytest

from flows.cli import disclose
from records.settings import load_settings
from records.store import open_store

from .conftest import cli, history, request, run_state

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def _as(site, user: str) -> list[str]:
    return ["--as", user, "--key", str(site.keys[user])]


def _tracks(run: str) -> list[int]:
    doc = json.loads((load_settings().home / "disclosures" / run / "tracks.json").read_text())
    return [t["id"] for t in doc["tracks"]]


def _kinds(record: str, run: str) -> list[str]:
    return [e["kind"] for e in history(record) if (e.get("detail") or {}).get("run") == run]


def test_request_select_approve_releases_a_watermarked_copy(site, clip):
    path, record = clip
    run = request(site, clip)
    tracks = _tracks(run)
    assert len(tracks) == 2
    # An operator cannot select, even signed: the flow refuses (exit 3) and waits again.
    out = cli("disclose", "select", run, "--keep", str(tracks[1]), *_as(site, "olga"), code=3)
    assert "olga is not an archivist" in out and "select-2" in out
    st = cli("disclose", "select", run, "--keep", str(tracks[1]), *_as(site, "carol"), "--json")
    assert st["awaiting"] == "approve"
    # carol holds the supervisor role too, but she made the selection: separation of duties.
    out = cli("disclose", "approve", run, *_as(site, "carol"), code=3)
    assert "carol made the selection of this disclosure" in out and "separation of duties" in out
    st = cli("disclose", "approve", run, "--comment", "approved per art. 31", *_as(site, "bob"), "--json")
    assert st["state"] == "Completed", st
    receipt = st["receipt"]
    assert receipt["status"] == "released"
    assert receipt["requested_by"]["user"] == "alice" and receipt["requested_by"]["proof"]["signed"]
    assert receipt["selected_by"]["user"] == "carol"
    assert receipt["decided_by"]["user"] == "bob" and receipt["decided_by"]["via"] == "cli"
    assert receipt["decided_by"]["proof"]["key_fingerprint"].startswith("SHA256:")
    assert "unsigned_ui_input" not in receipt
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
    # issue 27: the copy carries the bureau's Content Credentials, and footage disclose verify agrees
    assert receipt["c2pa"]["manifest"].startswith("urn:c2pa:") and "warnings" not in receipt
    from records.credentials import verify_release
    verdict = verify_release(load_settings(), local)
    assert verdict.ok and verdict.run == run, [c for c in verdict.checks if not c.ok]
    kinds = _kinds(record, run)
    for k in ("requested", "input_refused", "selected", "approved", "rendered", "qa", "released"):
        assert f"disclosure_{k}" in kinds
    assert [e["user"] for e in history(record) if e["kind"] == "disclosure_input_refused"
            and e["detail"]["run"] == run] == ["olga", "carol"]
    assert "intact" in cli("audit", "verify", "--as", "bob")  # the kept signatures verify again


def test_own_request_and_unsigned_inputs_are_refused(site, clip):
    """carol (archivist AND supervisor) requests; she may not approve her own request. An input
    without a signature is refused (no key: at once; typed in the UI: by the flow), unless
    ``disclosure.trust_ui_input`` is on, and then the receipt says so."""
    from prefect.flow_runs import resume_flow_run

    _, record = clip
    run = request(site, clip, user="carol")
    # no key at all (HOME has no ~/.ssh): refused at once, exit 3, audited
    out = cli("disclose", "select", run, "--keep", "", "--as", "alice", code=3)
    assert "no key" in out or "not signed" in out
    # the Prefect UI's form: typed, unsigned -> the flow refuses it and waits again
    resume_flow_run(run_state(run).id, run_input={"user": "alice", "keep": [], "via": "ui"})
    st = disclose.wait_next(run, "select-1", timeout=180)
    assert st["pause_key"] == "select-2"
    refused = [e for e in history(record) if e["kind"] == "disclosure_input_refused" and e["detail"]["run"] == run]
    assert "unsigned input typed in the UI is refused" in refused[-1]["detail"]["why"]
    site.configure(trust_ui_input=True)
    try:
        resume_flow_run(run_state(run).id, run_input={"user": "alice", "keep": [], "via": "ui"})
        st = disclose.wait_next(run, "select-2", timeout=180)
    finally:
        site.configure()
    assert st["awaiting"] == "approve"
    out = cli("disclose", "approve", run, *_as(site, "carol"), code=3)
    assert "carol requested this disclosure" in out and "separation of duties" in out
    assert run_state(run).state.state_details.pause_key == "approve-2"
    st = cli("disclose", "reject", run, "--comment", "not a party to this record", *_as(site, "bob"), "--json")
    receipt = st["receipt"]
    assert receipt["status"] == "rejected" and receipt["decided_by"]["user"] == "bob"
    assert receipt["unsigned_ui_input"]["steps"] == ["select"]
    assert receipt["selected_by"]["proof"] == {"signed": False, "trusted": "disclosure.trust_ui_input", "via": "ui"}
    assert not [o.key for o in open_store(load_settings()).list(f"disclosures/{record}/{run}/")
                if o.key.endswith(".mp4")]


def test_planted_miss_blocks_the_release(site, clip):
    """A detector that misses every face (threshold 0.99) leaves faces for QA to find. This run
    keeps its finished steps in the object store (``result_storage = "store"``, what the S3
    backend uses) instead of the local result folder."""
    path, record = clip
    site.configure(result_storage="store")
    try:
        started = disclose.request(record, "张三", "hearing", "alice", file=str(path),
                                   detection={"threshold": 0.99}, key_path=str(site.keys["alice"]))
        run = started["run"]
        cli("disclose", "select", run, *_as(site, "alice"), "--json")
        st = cli("disclose", "approve", run, *_as(site, "bob"), "--json")
        assert st["awaiting"] == "qa-override", st
        st = cli("disclose", "override", run, "--block", *_as(site, "alice"), "--json")
    finally:
        site.configure()
    results = [o.key for o in open_store(load_settings()).list("work/disclosure-results/") if run in o.key]
    assert any("find-tracks" in k for k in results) and any("qa" in k for k in results), results
    assert st["receipt"]["status"] == "blocked"
    assert st["receipt"]["qa"]["residuals"] > 0 and st["receipt"]["qa"]["override"]["proof"]["signed"]
    store = open_store(load_settings())
    assert not [o.key for o in store.list(f"disclosures/{record}/{run}/") if o.key.endswith(".mp4")]
    assert "disclosure_blocked" in _kinds(record, run)


def test_disclosed_copy_shows_no_plate_or_document_and_keeps_the_display(site, tmp_path):
    """Issue 14's "done when": a released copy of a clip with a plate and a document shows
    neither, and the camera's display still reads (text masked by default in the flow)."""
    import hashlib

    from media.text.osd import read_osd
    from media.text.synth import shown_time

    from text.test_redact_text import OSD, SECRETS, _norm, _read_all_text, make_text_clip  # tests/ is on sys.path

    path = make_text_clip(tmp_path / "plate_doc.mp4").path
    run = request(site, (path, hashlib.sha256(path.read_bytes()).hexdigest()))
    ts = json.loads((load_settings().home / "disclosures" / run / "tracks.json").read_text())
    assert any(t["kind"] == "text" for t in ts["tracks"]) and any(t["kind"] == "osd" for t in ts["tracks"])
    cli("disclose", "select", run, *_as(site, "alice"), "--json")
    receipt = cli("disclose", "approve", run, *_as(site, "bob"), "--json")["receipt"]
    assert receipt["status"] == "released", receipt
    assert receipt["qa"]["passed"] and receipt["qa"]["text_residuals"] == 0 and receipt["qa"]["text_frames"] > 0
    local = tmp_path / "copy.mp4"
    open_store(load_settings()).download(receipt["output"]["key"], local)
    found = [_norm(t) for t in _read_all_text(local, every=3)]
    assert not [(s, t) for t in found for s in SECRETS if s in t]
    reading = read_osd(local)
    assert reading.stamps and all(stamp == shown_time(OSD, t) for t, stamp in reading.stamps)
