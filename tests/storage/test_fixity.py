"""The fixity audit finds objects whose bytes no longer match their manifest, and missing ones."""

from __future__ import annotations

import json
import os
import stat

import pytest

from records.settings import Settings, StorageSettings
from records.keys import manifest_key
from records.store import open_store


def settings_for(backend: str, tmp_path, request) -> Settings:
    if backend == "local":
        return Settings(home=tmp_path / "home")
    s3 = request.getfixturevalue("s3_settings")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("bucket_name")
    # WORM forbids tampering, which is the point: the tampering case needs a bucket without a lock
    client.create_bucket(Bucket=bucket)
    return Settings(home=tmp_path / "home", storage=StorageSettings(
        backend="s3", bucket=bucket, endpoint_url=s3["endpoint_url"], region=s3["region"], path_style=True,
        allow_unlocked=True))


def tamper_local(store, stored: dict) -> None:
    """Change bytes inside a stored original: possible on the local backend, which is not WORM."""
    path = store.objects / stored["key"]
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"\x00tampered\x00")


@pytest.mark.parametrize("backend", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_fixity_audit_finds_mismatched_and_missing(backend, tmp_path, request, prefect_harness, put_record):
    from flows.fixity import fixity_audit

    settings = settings_for(backend, tmp_path, request)
    store = open_store(settings)
    good = put_record(store, os.urandom(50_000))
    changed = put_record(store, os.urandom(60_000))
    gone = put_record(store, os.urandom(70_000))

    if backend == "local":
        tamper_local(store, changed)
    else:
        # an unlocked bucket lets a version be removed and the key overwritten; the manifest
        # then points at a version that is gone (missing) or, without a version, at new bytes
        client = request.getfixturevalue("s3_client")
        store.delete(changed["key"], changed["version_id"])
        client.put_object(Bucket=store.bucket, Key=changed["key"], Body=b"replaced content")
        mkey = manifest_key(changed["sha256"])
        manifest = json.loads(store.get_bytes(mkey))
        manifest["stored"]["version_id"] = None
        client.put_object(Bucket=store.bucket, Key=mkey, Body=json.dumps(manifest).encode())
    store.delete(gone["key"])

    report = fixity_audit(sample_pct=100, settings=settings)
    by_status = {p.sha256: p.status for p in report.problems}
    assert by_status == {changed["sha256"]: "mismatch", gone["sha256"]: "missing"}
    assert report.counts.ok == 1 and report.checked == 3 and not report.ok
    assert good["sha256"] not in by_status

    md = (settings.reports).glob("*/fixity.md")
    md = next(iter(md))
    first = md.read_text().splitlines()[0]
    assert "WARNING" in first and ("not WORM-grade" in first or "NOT write-once" in first)
    js = json.loads(md.with_suffix(".json").read_text())
    assert js["counts"]["mismatch"] == 1 and js["counts"]["missing"] == 1

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["fixity-audit"])))
    assert any("mismatched 1" in (a.data or "") for a in arts)


def test_sampling_checks_a_share(tmp_path, prefect_harness, put_record):
    from flows.fixity import fixity_audit
    from records.fixity import choose_sample

    settings = Settings(home=tmp_path / "home")
    store = open_store(settings)
    for i in range(4):
        put_record(store, os.urandom(1000 + i))
    report = fixity_audit(sample_pct=50, settings=settings, seed=1)
    assert report.manifests == 4 and report.checked == 2 and report.ok
    assert len(choose_sample([f"k{i}" for i in range(10)], 1)) == 1
    with pytest.raises(ValueError):
        choose_sample(["a"], 0)


@pytest.mark.slow
def test_fixity_audit_covers_the_master_and_the_access_copy(footage_home, prefect_harness):
    """A flipped byte in a stored access copy is found, named, and the record reported."""
    from datetime import datetime, timezone

    from flows.fixity import fixity_audit
    from flows.ingest import run_ingest
    from media.synth import make_clip
    from records.manifest import load_manifest
    from records.settings import load_settings

    settings = load_settings()
    settings.ensure_layout()
    make_clip(settings.inbox / "CAM-2_7002_20261120090000_0001.MP4", 2, width=160, height=120, fps=10,
              creation_time=datetime(2026, 11, 20, 1, tzinfo=timezone.utc))
    (stored,) = run_ingest().to_json_dict()["stored"]
    store = open_store(settings)
    derivatives = {d.kind: d.to_json_dict() for d in load_manifest(store, stored["sha256"]).archive.stored}
    assert set(derivatives) == {"master", "access"}
    assert fixity_audit(settings=settings).ok

    tamper_local(store, derivatives["access"])
    report = fixity_audit(settings=settings)
    assert not report.ok and report.counts.mismatch == 1
    (problem,) = report.problems
    assert problem.sha256 == stored["sha256"] and problem.detail.startswith(f"access {derivatives['access']['key']}")
    assert {d.kind: d.status for d in problem.derivatives} == {"master": "ok", "access": "mismatch"}


def record_with_copies(store, data: bytes, original_until, access_until, manifest_until):
    """An original and an access copy stored with the given locks, and a manifest that records
    ``manifest_until`` for both (as a rerun wrote it after a sidecar or a fixed setting)."""
    import hashlib
    from datetime import datetime, timezone

    from media.model import Recording
    from records.keys import derivative_key, original_key
    from records.manifest import ArchiveRecord, StoredObject, build_manifest

    sha = hashlib.sha256(data).hexdigest()
    made = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    key = original_key(sha, "cam-7", made, ".mp4")
    info = store.put(key, data, sha256=sha, retain_until=original_until)
    access = data[::-1]
    access_sha = hashlib.sha256(access).hexdigest()
    akey = derivative_key(sha, "access", access_sha, ".mp4")
    ainfo = store.put(akey, access, sha256=access_sha, retain_until=access_until)
    stored = StoredObject(key=key, sha256=sha, size=info.size, version_id=info.version_id, backend=store.name,
                          retain_until=manifest_until, mode="COMPLIANCE")
    derivative = StoredObject(kind="access", key=akey, sha256=access_sha, size=ainfo.size,
                              version_id=ainfo.version_id, retain_until=manifest_until, mode="COMPLIANCE")
    recording = Recording(path=f"{sha}.mp4", name=f"{sha}.mp4", size=len(data), sha256=sha, container="mp4",
                          duration=10.0, start=made, start_source="filename", device_id="cam-7")
    manifest = build_manifest(recording, stored, archive=ArchiveRecord(stored=[derivative]))
    store.put(manifest_key(sha), manifest.to_json(), retain_until=manifest_until, content_type="application/json")
    return {"sha256": sha, "key": key, "version_id": info.version_id, "access": akey,
            "access_version_id": ainfo.version_id}


def settings_of(store, tmp_path) -> Settings:
    """Settings for the store a fixture made (on S3: permanent dates the test server can hold)."""
    if store.name == "local":
        return Settings(home=store.root.parent, storage=StorageSettings(backend="local"))  # its store/
    return Settings(home=tmp_path / "home", storage=StorageSettings(
        backend="s3", bucket=store.bucket, endpoint_url=store.endpoint_url, region=store.region, path_style=True,
        evidence_until="2100-12-31"))


def test_fixity_audit_reports_copies_locked_shorter_than_their_manifest(store, tmp_path, prefect_harness):
    """The manifest says one date, the store holds a shorter lock on the original or on a
    derivative (a rerun that recorded a longer date without extending the lock, issue 23): the
    audit reads every copy's lock back and reports `retention-short`, naming the copy."""
    from datetime import datetime, timedelta, timezone

    from flows.fixity import fixity_audit

    now = datetime.now(timezone.utc).replace(microsecond=0)
    short, long = now + timedelta(hours=2), now + timedelta(days=400)
    fine = record_with_copies(store, os.urandom(3000), long, long, long)
    original = record_with_copies(store, os.urandom(3000), short, long, long)
    access = record_with_copies(store, os.urandom(3000), long, short, long)

    report = fixity_audit(sample_pct=100, settings=settings_of(store, tmp_path)).to_json_dict()
    by_status = {p["sha256"]: p["status"] for p in report["problems"]}
    assert by_status == {original["sha256"]: "retention-short", access["sha256"]: "retention-short"}
    assert fine["sha256"] not in by_status and not report["ok"] and report["counts"]["retention-short"] == 2
    problem = next(p for p in report["problems"] if p["sha256"] == access["sha256"])
    assert problem["detail"].startswith(f"access {access['access']} retained until")
    assert {d["kind"]: d["status"] for d in problem["derivatives"]} == {"access": "retention-short"}


@pytest.mark.s3
def test_fixity_audit_reports_versions_forged_above_the_pinned_ones(s3_store, s3_client, tmp_path, prefect_harness):
    """Anyone allowed to PUT can put a new version (or a delete marker) on the key of a locked
    original or derivative; the audit re-hashes the pinned version, which is intact, but a plain
    GET returns the forgery: every version above the pinned one is reported (`overwritten`)."""
    from datetime import datetime, timedelta, timezone

    from flows.fixity import fixity_audit

    long = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=400)
    fine = record_with_copies(s3_store, os.urandom(3000), long, long, long)
    forged = record_with_copies(s3_store, os.urandom(3000), long, long, long)
    marked = record_with_copies(s3_store, os.urandom(3000), long, long, long)
    new = s3_client.put_object(Bucket=s3_store.bucket, Key=forged["key"], Body=b"forged")["VersionId"]
    s3_client.delete_object(Bucket=s3_store.bucket, Key=marked["access"])  # a delete marker

    report = fixity_audit(sample_pct=100, settings=settings_of(s3_store, tmp_path)).to_json_dict()
    by_status = {p["sha256"]: p for p in report["problems"]}
    assert set(by_status) == {forged["sha256"], marked["sha256"]} and fine["sha256"] not in by_status
    assert by_status[forged["sha256"]]["status"] == "overwritten" and new in by_status[forged["sha256"]]["detail"]
    assert by_status[marked["sha256"]]["status"] == "overwritten"
    assert "delete marker" in by_status[marked["sha256"]]["detail"]
    assert {d["kind"]: d["status"] for d in by_status[marked["sha256"]]["derivatives"]} == {"access": "overwritten"}
    assert report["counts"]["overwritten"] == 2 and not report["ok"]
