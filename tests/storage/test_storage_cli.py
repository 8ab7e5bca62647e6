"""``footage storage init|extend|hold|audit`` on the local backend and against the S3 server."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from records.settings import load_settings
from records.history import record_events
from records.store import open_store

runner = CliRunner()


def footage(*args: str):
    from flows.cli import app

    return runner.invoke(app, list(args))


def test_extend_and_hold_write_record_events(put_record, footage_home):
    settings = load_settings()
    store = open_store(settings)
    stored = put_record(store, os.urandom(5000), retain_hours=1)
    sha, key = stored["sha256"], stored["key"]

    r = footage("storage", "extend", sha, "--until", "2040-01-31", "--as", "archivist-1")
    assert r.exit_code == 0, r.output
    assert store.head(key).retain_until.year == 2040
    r = footage("storage", "extend", key, "--until", "2030-01-01")
    assert r.exit_code == 1 and "not shortened" in r.output.replace("\n", " ")
    assert store.head(key).retain_until.year == 2040

    r = footage("storage", "hold", key, "--on", "--reason", "case 2026-17")
    assert r.exit_code == 0, r.output
    assert store.head(key).legal_hold
    r = footage("storage", "hold", sha, "--off")
    assert r.exit_code == 0, r.output
    assert not store.head(key).legal_hold

    kinds = [(e["kind"], e["user"]) for e in record_events(store, sha)]
    assert kinds[0] == ("retention_extended", "archivist-1")
    assert [k for k, _ in kinds] == ["retention_extended", "legal_hold_set", "legal_hold_cleared"]
    assert record_events(store, sha)[1]["detail"]["reason"] == "case 2026-17"

    from records.audit import open_audit

    audit_kinds = [e["kind"] for e in open_audit(settings, store).events(record=sha)]
    assert audit_kinds == ["retention_extended", "legal_hold_set", "legal_hold_cleared"]


def test_unknown_record_is_a_clear_error(put_record, footage_home):
    r = footage("storage", "hold", "0" * 64, "--on")
    assert r.exit_code == 2 and "no record" in r.output


def test_init_on_local_says_not_worm(put_record, footage_home):
    r = footage("storage", "init", "--json")
    assert r.exit_code == 0, r.output
    assert "NOT WORM-grade" in json.loads(r.stdout)["warning"]


def test_audit_command(put_record, footage_home, prefect_harness):
    store = open_store(load_settings())
    put_record(store, os.urandom(3000))
    r = footage("storage", "audit", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["ok"] and report["checked"] == 1 and report["warning"].startswith("WARNING")
    stored = put_record(store, os.urandom(3000))
    store.delete(stored["key"])
    r = footage("storage", "audit", "--sample", "100")
    assert r.exit_code == 1 and "missing 1" in r.output


@pytest.mark.s3
def test_init_creates_locked_bucket_and_refuses_unlocked(put_record, footage_home, s3_settings, s3_client, bucket_name, monkeypatch):
    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    # Ceph RGW 16 keeps retain-until dates as 32-bit seconds (docs/storage.md)
    monkeypatch.setenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", "2105-12-31")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", bucket_name)
    monkeypatch.setenv("FOOTAGE_STORAGE__ENDPOINT_URL", s3_settings["endpoint_url"])
    monkeypatch.setenv("FOOTAGE_STORAGE__PATH_STYLE", "true")
    r = footage("storage", "init", "--retention-days", "2")
    assert r.exit_code == 0, r.output
    assert "created" in r.output and "Object Lock enabled" in r.output
    cfg = s3_client.get_object_lock_configuration(Bucket=bucket_name)["ObjectLockConfiguration"]
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 2}

    plain = bucket_name + "-plain"
    s3_client.create_bucket(Bucket=plain)
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", plain)
    r = footage("storage", "init")
    assert r.exit_code == 2 and "no Object Lock" in r.output
    r = footage("storage", "init", "--allow-unlocked")
    assert r.exit_code == 0 and "WARNING" in r.output


@pytest.mark.s3
def test_extend_on_s3_and_server_keeps_it(put_record, footage_home, s3_settings, s3_client, bucket_name, monkeypatch):
    from storage.s3 import S3Store

    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", bucket_name)
    monkeypatch.setenv("FOOTAGE_STORAGE__ENDPOINT_URL", s3_settings["endpoint_url"])
    monkeypatch.setenv("FOOTAGE_STORAGE__PATH_STYLE", "true")
    # Ceph RGW 16 keeps retain-until as 32-bit seconds: the audit segment's evidence retention must
    # stay before 2106 there, or its put is RetentionShort (docs/storage.md)
    monkeypatch.setenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", "2100-12-31")
    store = S3Store(bucket_name, **s3_settings)
    store.init_bucket(default_retention_days=None)
    stored = put_record(store, os.urandom(4000), retain_hours=2)
    r = footage("storage", "extend", stored["sha256"], "--until", "2031-06-30T12:00:00+08:00")
    assert r.exit_code == 0, r.output
    ret = s3_client.get_object_retention(Bucket=bucket_name, Key=stored["key"], VersionId=stored["version_id"])
    assert ret["Retention"]["RetainUntilDate"] == datetime(2031, 6, 30, 4, 0, tzinfo=timezone.utc)
    assert ret["Retention"]["Mode"] == "COMPLIANCE"
    assert [e["kind"] for e in record_events(store, stored["sha256"])] == ["retention_extended"]
    assert datetime.now(timezone.utc) + timedelta(days=365) < store.head(stored["key"]).retain_until


def s3_cli_env(monkeypatch, s3_settings, bucket: str, evidence_until: str | None) -> None:
    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", bucket)
    monkeypatch.setenv("FOOTAGE_STORAGE__ENDPOINT_URL", s3_settings["endpoint_url"])
    monkeypatch.setenv("FOOTAGE_STORAGE__PATH_STYLE", "true")
    if evidence_until:
        monkeypatch.setenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", evidence_until)
    else:
        monkeypatch.delenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", raising=False)


def server_keeps(s3_client, bucket: str, until: datetime) -> bool:
    """Asked of the server with plain boto3: does a retain-until of ``until`` read back as put?"""
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3_client.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    return s3_client.head_object(Bucket=bucket, Key="k")["ObjectLockRetainUntilDate"] == until


@pytest.mark.s3
def test_init_sets_a_rule_that_aborts_incomplete_uploads(footage_home, s3_settings, s3_client, bucket_name,
                                                         monkeypatch):
    """A multipart upload cut short (a killed run) leaves its parts, billed and invisible, until a
    lifecycle rule aborts it: `storage init` sets one on the bucket and reads it back (issue 23,
    item 6c); rules already there are kept."""
    s3_cli_env(monkeypatch, s3_settings, bucket_name, "2100-12-31")
    r = footage("storage", "init", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["abort_incomplete_uploads_days"] == 7
    rules = s3_client.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    (rule,) = [x for x in rules if "AbortIncompleteMultipartUpload" in x]
    assert rule["Status"] == "Enabled" and rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rule.get("Filter", {}).get("Prefix", rule.get("Prefix")) == ""

    other = {"ID": "keep-me", "Status": "Enabled", "Filter": {"Prefix": "elsewhere/"}, "Expiration": {"Days": 365}}
    s3_client.put_bucket_lifecycle_configuration(Bucket=bucket_name, LifecycleConfiguration={"Rules": [other]})
    r = footage("storage", "init")
    assert r.exit_code == 0, r.output
    rules = s3_client.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    assert sorted(x["ID"] for x in rules) == sorted(["keep-me", rule["ID"]])


@pytest.mark.s3
def test_init_probes_whether_the_server_keeps_permanent_dates(footage_home, s3_settings, s3_client, bucket_name,
                                                              monkeypatch):
    """Ceph RGW 16 keeps retain-until dates as 32-bit seconds: with the default
    `storage.evidence_until` (2199-12-31) every ingest would fail with RetentionShort. `storage
    init` puts a probe object with the far date permanent records get, reads it back and refuses
    there, naming the setting, when the server does not keep it (issue 23, item 7); with a date
    the server holds it succeeds. What this server does is asked of it with plain boto3 first."""
    far = datetime(2199, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    wraps = not server_keeps(s3_client, bucket_name + "-raw", far)
    print(f"the test server keeps 2199-12-31: {not wraps}")

    s3_cli_env(monkeypatch, s3_settings, bucket_name, None)  # the default, 2199-12-31
    r = footage("storage", "init", "--json")
    if wraps:
        assert r.exit_code == 2, r.output
        assert "storage.evidence_until" in r.output and "2199-12-31" in r.output
    else:
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["retention_probe"]["held"].startswith("2199-12-31")

    s3_cli_env(monkeypatch, s3_settings, bucket_name, "2105-12-31")
    r = footage("storage", "init", "--json")
    assert r.exit_code == 0, r.output
    probe = json.loads(r.stdout)["retention_probe"]
    assert probe["asked"].startswith("2105-12-31") and probe["held"] >= probe["asked"]
    versions = s3_client.list_object_versions(Bucket=bucket_name, Prefix=probe["key"]).get("Versions", [])
    assert len(versions) == 1  # one probe object, whatever the number of inits
