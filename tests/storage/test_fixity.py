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
