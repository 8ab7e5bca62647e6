"""Reads that a newer version cannot fool (issue 11, item 4), against a real S3 server.

On a bucket with Object Lock anyone allowed to PUT can add a NEW version on top of a locked one
(and a plain GET then returns it), or a delete marker. Manifests, audit segments and explanations
are read at the version written first, and ``AuditLog.verify`` reports every segment key with
more than one version. The forgeries here are written with plain boto3, as an attacker would.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from storage import LocalStore, ObjectNotFound


def now() -> datetime:
    return datetime.now(timezone.utc)


def forge(s3_client, bucket: str, key: str, body: bytes) -> str:
    """PUT ``body`` as a new version of ``key`` (what Object Lock allows anyone with PUT to do)."""
    r = s3_client.put_object(Bucket=bucket, Key=key, Body=body,
                             Metadata={"sha256": hashlib.sha256(body).hexdigest()})
    return r["VersionId"]


def test_local_store_has_one_version_or_none(tmp_path):
    from records.pinned import read_first

    store = LocalStore(tmp_path / "store")
    assert store.versions("manifests/x.json") == []
    store.put("manifests/x.json", b"{}")
    (v,) = store.versions("manifests/x.json")
    assert v["version_id"] is None and not v["delete_marker"] and v["size"] == 2
    assert read_first(store, "manifests/x.json") == b"{}"
    with pytest.raises(ObjectNotFound):
        read_first(store, "manifests/y.json")


@pytest.mark.s3
def test_versions_lists_exactly_the_key_under_the_configured_prefix(s3_settings, bucket_name, s3_client):
    from storage.s3 import S3Store

    store = S3Store(bucket_name, prefix="site-a", **s3_settings)
    store.init_bucket(default_retention_days=None)
    store.put("manifests/a.json", b"first")
    store.put("manifests/a.json.bak", b"other key")
    forge(s3_client, bucket_name, "site-a/manifests/a.json", b"second")
    s3_client.delete_object(Bucket=bucket_name, Key="site-a/manifests/a.json")  # a delete marker on top
    listed = s3_client.list_object_versions(Bucket=bucket_name, Prefix="site-a/manifests/a.json")
    server = {v["VersionId"] for v in listed["Versions"] if v["Key"] == "site-a/manifests/a.json"}
    markers = {m["VersionId"] for m in listed.get("DeleteMarkers", [])}
    versions = store.versions("manifests/a.json")
    assert len(versions) == 3 and len(server) == 2 and len(markers) == 1
    assert {v["version_id"] for v in versions} == server | markers
    assert versions[0]["delete_marker"] and versions[0]["version_id"] in markers
    from records.pinned import read_first

    assert read_first(store, "manifests/a.json") == b"first"
    assert store.versions("manifests/none.json") == []


@pytest.mark.s3
def test_manifest_read_at_its_first_version(s3_store, s3_client, bucket_name, put_record):
    from records.keys import manifest_key
    from records.manifest import find_manifest, iter_manifests, load_manifest

    stored = put_record(s3_store, b"original clip bytes", retain_hours=1)
    key = manifest_key(stored["sha256"])
    body = json.loads(s3_store.get_bytes(key))
    body["stored"]["key"] = "originals/forged.mp4"
    forged = json.dumps(body).encode()
    forge(s3_client, bucket_name, key, forged)
    assert s3_store.get_bytes(key) == forged  # the attack works on a plain GET
    assert load_manifest(s3_store, stored["sha256"]).stored.key == stored["key"]
    assert find_manifest(s3_store, stored["sha256"]).stored.key == stored["key"]
    assert [m.stored.key for m in iter_manifests(s3_store)] == [stored["key"]]
    # a delete marker on top hides the key from a plain GET, not from the record's readers
    s3_client.delete_object(Bucket=bucket_name, Key=key)
    with pytest.raises(ObjectNotFound):
        s3_store.get_bytes(key)
    assert load_manifest(s3_store, stored["sha256"]).stored.key == stored["key"]


@pytest.mark.s3
def test_explanation_read_at_its_first_version(s3_store, s3_client, bucket_name):
    from records.explanations import load_explanations
    from records.keys import explanation_key

    at = now()
    key = explanation_key("S-1", "opening", at)
    real = {"session": "S-1", "gap": "opening", "text": "camera battery", "by": "officer 7", "at": at.isoformat(),
            "supersedes": None}
    s3_store.put(key, json.dumps(real).encode(), retain_until=now() + timedelta(hours=1))
    forge(s3_client, bucket_name, key, json.dumps(dict(real, text="nothing happened", by="someone")).encode())
    latest = load_explanations(s3_store, ["S-1"])["S-1"]["opening"]
    assert (latest.text, latest.by) == ("camera battery", "officer 7")


def _rechain(segments: list[dict]) -> list[dict]:
    """Forged segments: every ``record`` renamed and the hash chain computed again, end to end."""
    from records.audit import GENESIS, event_hash

    prev = GENESIS
    out = []
    for seg in segments:
        seg = json.loads(json.dumps(seg))
        seg["prev"] = prev
        for e in seg["events"]:
            e["record"] = "f" * 64
            e["prev"] = prev
            e["hash"] = event_hash(e)
            prev = e["hash"]
        seg["head"] = prev
        out.append(seg)
    return out


@pytest.mark.s3
def test_a_rechained_forgery_of_new_versions_fails_verify(s3_store, s3_client, bucket_name):
    from records.audit import PREFIX, AuditLog

    log = AuditLog(s3_store, retain_until=now() + timedelta(hours=1))
    for i in range(3):
        log.append_many([{"kind": "ingested", "user": "ingest", "record": f"{i:064x}"},
                         {"kind": "stored", "user": "ingest", "record": f"{i:064x}"}])
    before = log.verify()
    assert before.ok and before.segments == 3 and before.events == 6 and before.overwritten == {}
    keys = [o.key for o in s3_store.list(PREFIX)]
    assert len(keys) == 3
    originals = [json.loads(s3_store.get_bytes(k)) for k in keys]
    for key, seg in zip(keys, _rechain(originals)):
        forge(s3_client, bucket_name, key, json.dumps(seg, sort_keys=True, indent=1).encode())
    # a plain GET now reads a chain that holds on its own
    assert all(e["record"] == "f" * 64 for k in keys for e in json.loads(s3_store.get_bytes(k))["events"])

    after = log.verify()
    assert not after.ok
    assert after.overwritten == {k: 2 for k in keys}
    assert after.broken.segment == keys[0]
    assert all(k in after.broken.reason for k in keys)
    # what the log reads is still what was written first
    assert [e["record"] for e in log.events()] == [f"{i:064x}" for i in range(3) for _ in range(2)]
    assert log.head() == before.head


@pytest.mark.s3
def test_one_forged_segment_version_is_named(s3_store, s3_client, bucket_name):
    from records.audit import PREFIX, AuditLog

    log = AuditLog(s3_store)
    log.append("ingested", user="ingest", record="a" * 64)
    log.append("stored", user="ingest", record="a" * 64)
    first, second = [o.key for o in s3_store.list(PREFIX)]
    seg = json.loads(s3_store.get_bytes(second))
    seg["events"][0]["user"] = "someone else"  # not even re-chained
    forge(s3_client, bucket_name, second, json.dumps(seg).encode())
    v = log.verify()
    assert not v.ok and v.broken.segment == second and v.overwritten == {second: 2}
    assert v.to_dict()["overwritten"] == {second: 2}
    s3_client.delete_object(Bucket=bucket_name, Key=first)  # a delete marker: the segment looks gone
    v = log.verify()  # ... from a listing of current objects; verify lists every version (issue 23)
    assert not v.ok and v.erased == [first] and v.broken.segment == first
    assert v.broken.reason.startswith("erased") and v.overwritten == {first: 2, second: 2}


def test_list_versions_sees_a_key_hidden_by_a_delete_marker(store, request):
    """``list_versions`` sees every key that still has a version, ``list`` only current ones:
    on S3 a plain DELETE (a delete marker), on the local backend the metadata removed."""
    store.put("audit/segments/a.json", b"first")
    store.put("audit/segments/b.json", b"second")
    store.put("audit/other.json", b"not under the prefix")
    if store.name == "s3":
        request.getfixturevalue("s3_client").delete_object(Bucket=store.bucket, Key="audit/segments/b.json")
    else:
        (store.meta / "audit/segments/b.json.json").unlink()
    assert [o.key for o in store.list("audit/segments/")] == ["audit/segments/a.json"]
    entries = list(store.list_versions("audit/segments/"))
    assert [(e["key"], e["delete_marker"]) for e in entries] == [
        ("audit/segments/a.json", False), ("audit/segments/b.json", True), ("audit/segments/b.json", False)]
    assert entries[0]["is_latest"] and entries[1]["is_latest"] and not entries[2]["is_latest"]
    assert store.get_bytes("audit/segments/b.json", entries[2]["version_id"]) == b"second"
    assert store.versions("audit/segments/a.json") == [{k: v for k, v in entries[0].items()
                                                        if k not in ("key", "sha256")}]
