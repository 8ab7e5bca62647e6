"""Audit segments erased by a delete marker or forked with edited content (issue 23, items 3
and 4), against a real S3 server with Object Lock.

Object Lock refuses to delete a locked version, but a plain DELETE (no version id) is allowed:
it puts a delete marker on top and the key drops out of ``ListObjectsV2``. A PUT of a new key is
allowed too. The attacks here are made with plain boto3, as an intruder with the bucket's
credentials would; the log is checked with ``AuditLog`` and ``footage audit verify``.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from faultkit import forked_segment

from records.audit import PREFIX, parse_segment_key

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_home(footage_home, s3_settings, bucket_name, monkeypatch):
    """FOOTAGE_HOME on a fresh locked bucket: ``(settings, store)`` as the CLI opens them."""
    from records.settings import load_settings
    from records.store import open_store
    from storage.s3 import S3Store

    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", bucket_name)
    monkeypatch.setenv("FOOTAGE_STORAGE__ENDPOINT_URL", s3_settings["endpoint_url"])
    monkeypatch.setenv("FOOTAGE_STORAGE__PATH_STYLE", "true")
    # Ceph RGW 16 keeps retain-until as 32-bit seconds (docs/storage.md)
    monkeypatch.setenv("FOOTAGE_STORAGE__EVIDENCE_UNTIL", "2100-12-31")
    S3Store(bucket_name, **s3_settings).init_bucket(default_retention_days=None)
    settings = load_settings()
    settings.ensure_layout()
    return settings, open_store(settings)


def verify_cli(*args: str):
    from flows.cli import app

    return CliRunner().invoke(app, ["audit", "verify", *args])


def fill(log) -> list[str]:
    for i in range(3):
        log.append_many([{"kind": "ingested", "user": "ingest", "record": f"{i:064x}"},
                         {"kind": "stored", "user": "ingest", "record": f"{i:064x}"}])
    return [o.key for o in log.store.list(PREFIX)]


def test_a_deleted_newest_segment_is_not_reused_and_verify_names_it(s3_home, s3_client, bucket_name):
    from records.audit import open_audit

    settings, store = s3_home
    log = open_audit(settings, store)
    keys = fill(log)
    assert len(keys) == 3 and log.verify().ok
    newest = keys[-1]
    head = log.head()
    r = s3_client.delete_object(Bucket=bucket_name, Key=newest)  # a plain DELETE: Object Lock allows it
    assert r.get("DeleteMarker")
    assert newest not in [o.key for o in store.list(PREFIX)]  # hidden from the listing

    event = log.append("released", user="mallory", record="c" * 64)
    new = sorted({o.key for o in store.list(PREFIX)} - set(keys))
    assert len(new) == 1 and parse_segment_key(new[0])[0] == 4  # sequence 3 is not taken again
    assert event["prev"] == head  # chained on the erased segment, as first written

    v = log.verify()
    assert not v.ok and v.erased == [newest]
    assert v.broken.segment == newest and "erased" in v.broken.reason
    assert v.events == 7 and v.segments == 4 and v.head == event["hash"]
    assert [e["record"] for e in log.events()][4:6] == [f"{2:064x}"] * 2  # still read, as first written

    r = verify_cli()
    assert r.exit_code == 1 and "BROKEN" in r.stdout and newest in r.stdout and "erased" in r.stdout
    doc = json.loads(verify_cli("--json").stdout)
    assert not doc["ok"] and doc["erased"] == [newest] and doc["broken"]["segment"] == newest


def test_a_forked_segment_with_the_same_ids_and_edited_content_is_reported(s3_home, s3_client, bucket_name):
    from records.audit import open_audit

    settings, store = s3_home
    log = open_audit(settings, store)
    keys = fill(log)
    real = keys[1]
    rival = f"{PREFIX}{2:012d}-29991231T000000000000Z.json"
    # same sequence number and event ids, one record edited, every hash computed again
    s3_client.put_object(Bucket=bucket_name, Key=rival, Body=forked_segment(store.get_bytes(real), 1, "record", "f" * 64))

    v = log.verify()
    assert not v.ok and "fork" in v.broken.reason
    assert real in str(v.broken) and rival in str(v.broken)
    (fork,) = v.forks
    assert (fork.seq, {fork.segment, fork.rival}) == (2, {real, rival})
    assert [e["record"] for e in log.events()][3] == f"{1:064x}"  # the log reads the real one

    r = verify_cli()
    assert r.exit_code == 1 and "fork" in r.stdout and real in r.stdout and rival in r.stdout
