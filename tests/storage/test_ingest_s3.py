"""The nightly ingest flow end to end on the S3 backend: originals locked, verified, idempotent."""

from __future__ import annotations

import pytest

from media.demo import build_demo_inbox

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_demo_ingest_on_s3_object_lock(footage_home, monkeypatch, s3_store, s3_client, bucket_name, s3_endpoint):
    from records.settings import load_settings
    from flows.ingest import run_ingest

    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", bucket_name)
    monkeypatch.setenv("FOOTAGE_STORAGE__ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("FOOTAGE_STORAGE__PATH_STYLE", "true")
    # Ceph RGW 16 keeps retain-until as 32-bit seconds (2199-12-31 reads back as 2063-11-24, which
    # the store refuses as RetentionShort): evidence is kept until a date it can hold
    monkeypatch.setenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", "2100-12-31")
    settings = load_settings()
    build_demo_inbox(settings.inbox)
    summary = run_ingest().to_json_dict()
    assert summary["ingested"] == 6 and len(summary["quarantined"]) == 2
    for item in summary["stored"]:
        assert item["version_id"]
        head = s3_client.head_object(Bucket=bucket_name, Key=item["key"], VersionId=item["version_id"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"].isoformat()[:19] == item["retain_until"][:19]
        assert s3_store.verify(item["key"], item["sha256"], version_id=item["version_id"]).ok
    # the same files again: duplicates, and no second version of any original
    for p in sorted(settings.processed.rglob("*.MP4"))[:2]:
        (settings.inbox / p.name).write_bytes(p.read_bytes())
    again = run_ingest().to_json_dict()
    assert again["duplicates"] == 2 and again["ingested"] == 0
    for item in summary["stored"]:
        versions = s3_client.list_object_versions(Bucket=bucket_name, Prefix=item["key"]).get("Versions", [])
        assert len(versions) == 1
