"""What only a real S3 server with Object Lock can prove. Where the claim is the server's (not our
code's), the test asks the server directly with boto3."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest

from storage import COMPLIANCE, IntegrityError, RetentionLocked

pytestmark = pytest.mark.s3


def now() -> datetime:
    return datetime.now(timezone.utc)


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_init_creates_a_locked_versioned_bucket(s3_settings, bucket_name, s3_client):
    from storage.s3 import S3Store

    result = S3Store(bucket_name, **s3_settings).init_bucket(default_retention_days=3, mode=COMPLIANCE)
    assert result["created"] and result["object_lock"]
    cfg = s3_client.get_object_lock_configuration(Bucket=bucket_name)["ObjectLockConfiguration"]
    assert cfg["ObjectLockEnabled"] == "Enabled"
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 3}
    assert s3_client.get_bucket_versioning(Bucket=bucket_name)["Status"] == "Enabled"
    again = S3Store(bucket_name, **s3_settings).init_bucket(default_retention_days=3)
    assert not again["created"] and again["object_lock"]


def test_put_states_compliance_retention_on_the_version(s3_store, s3_client):
    until = now() + timedelta(hours=3)
    info = s3_store.put("originals/c.bin", b"compliance", retain_until=until)
    r = s3_client.get_object_retention(Bucket=s3_store.bucket, Key="originals/c.bin", VersionId=info.version_id)
    assert r["Retention"]["Mode"] == "COMPLIANCE"
    assert abs(r["Retention"]["RetainUntilDate"] - until) < timedelta(seconds=1)
    lh = s3_client.get_object_legal_hold(Bucket=s3_store.bucket, Key="originals/c.bin", VersionId=info.version_id)
    assert lh["LegalHold"]["Status"] == "OFF"


def test_compliance_version_cannot_be_deleted_even_with_bypass(s3_store, s3_client):
    from botocore.exceptions import ClientError

    info = s3_store.put("originals/c.bin", b"compliance", retain_until=now() + timedelta(hours=1))
    for bypass in (False, True):
        with pytest.raises(ClientError) as e:
            s3_client.delete_object(Bucket=s3_store.bucket, Key="originals/c.bin", VersionId=info.version_id,
                                    BypassGovernanceRetention=bypass)
        assert code_of(e) == "AccessDenied"
        with pytest.raises(RetentionLocked):
            s3_store.delete("originals/c.bin", info.version_id, bypass_governance=bypass)
    body = s3_client.get_object(Bucket=s3_store.bucket, Key="originals/c.bin", VersionId=info.version_id)["Body"]
    assert body.read() == b"compliance"


def test_overwrite_makes_a_new_version_and_the_locked_one_stays(s3_store, s3_client):
    info = s3_store.put("originals/v.bin", b"original", retain_until=now() + timedelta(hours=1))
    new = s3_client.put_object(Bucket=s3_store.bucket, Key="originals/v.bin", Body=b"tampered",
                               ContentMD5=b64md5(b"tampered"))
    assert new["VersionId"] != info.version_id
    assert s3_store.get_bytes("originals/v.bin") == b"tampered"
    assert s3_store.get_bytes("originals/v.bin", info.version_id) == b"original"
    assert s3_store.verify("originals/v.bin", info.sha256, version_id=info.version_id).ok
    assert not s3_store.verify("originals/v.bin", info.sha256).ok  # the current version is the other one
    # a plain DELETE only adds a delete marker; the locked version is still there
    s3_client.delete_object(Bucket=s3_store.bucket, Key="originals/v.bin")
    assert s3_store.get_bytes("originals/v.bin", info.version_id) == b"original"


def test_server_refuses_to_shorten_compliance_retention(s3_store, s3_client):
    from botocore.exceptions import ClientError

    info = s3_store.put("originals/s.bin", b"keep", retain_until=now() + timedelta(days=2))
    for bypass in (False, True):
        with pytest.raises(ClientError) as e:
            s3_client.put_object_retention(
                Bucket=s3_store.bucket, Key="originals/s.bin", VersionId=info.version_id,
                BypassGovernanceRetention=bypass,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": now() + timedelta(hours=1)},
            )
        assert code_of(e) == "AccessDenied"
    r = s3_client.get_object_retention(Bucket=s3_store.bucket, Key="originals/s.bin", VersionId=info.version_id)
    assert r["Retention"]["RetainUntilDate"] > now() + timedelta(days=1)


def test_wrong_content_md5_is_rejected_and_leaves_nothing(s3_store, s3_client):
    from botocore.exceptions import ClientError

    body = os.urandom(6 << 20)
    with pytest.raises(ClientError) as e:
        s3_client.put_object(Bucket=s3_store.bucket, Key="originals/md5.bin", Body=body, ContentMD5=b64md5(b"other"),
                             ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=now() + timedelta(hours=1))
    assert code_of(e) in ("BadDigest", "InvalidDigest")
    mpu = s3_client.create_multipart_upload(Bucket=s3_store.bucket, Key="originals/md5-mp.bin")
    with pytest.raises(ClientError) as e:
        s3_client.upload_part(Bucket=s3_store.bucket, Key="originals/md5-mp.bin", UploadId=mpu["UploadId"],
                              PartNumber=1, Body=body, ContentMD5=b64md5(b"other"))
    assert code_of(e) in ("BadDigest", "InvalidDigest")
    assert not s3_client.list_parts(Bucket=s3_store.bucket, Key="originals/md5-mp.bin",
                                    UploadId=mpu["UploadId"]).get("Parts")
    s3_client.abort_multipart_upload(Bucket=s3_store.bucket, Key="originals/md5-mp.bin", UploadId=mpu["UploadId"])
    versions = s3_client.list_object_versions(Bucket=s3_store.bucket)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


@pytest.mark.parametrize("size", [1 << 20, 12 << 20], ids=["single-put", "multipart"])
def test_bytes_corrupted_in_transit_are_refused_and_leave_nothing(s3_settings, bucket_name, size):
    """Flip one bit after signing, as a bad network path would: the server must refuse the part
    (Content-MD5 / signed SHA-256) and S3Store must abort, leaving no version and no upload."""
    from storage.s3 import S3Store

    store = S3Store(bucket_name, part_size=5 << 20, **s3_settings)
    store.init_bucket(default_retention_days=None)

    def flip(request, **_):
        data = bytearray(request.body.read() if hasattr(request.body, "read") else request.body)
        data[len(data) // 2] ^= 0x01
        request.body = bytes(data)

    events = store.client.meta.events  # shared by the stores of this process: unregister after
    for op in ("PutObject", "UploadPart"):
        events.register(f"before-send.s3.{op}", flip, unique_id=f"flip-{op}")
    try:
        with pytest.raises(IntegrityError):
            store.put("originals/x.bin", os.urandom(size), retain_until=now() + timedelta(hours=1))
    finally:
        for op in ("PutObject", "UploadPart"):
            events.unregister(f"before-send.s3.{op}", unique_id=f"flip-{op}")
    assert store.versions("originals/x.bin") == []
    assert not store.client.list_multipart_uploads(Bucket=bucket_name).get("Uploads")


def test_multipart_put_gets_retention_and_hold(s3_settings, bucket_name, s3_client, tmp_path):
    """Ceph RGW 16 ignores the lock headers of CreateMultipartUpload: S3Store applies them after."""
    from storage.s3 import S3Store

    store = S3Store(bucket_name, part_size=5 << 20, max_concurrency=2, **s3_settings)
    store.init_bucket(default_retention_days=None)
    data = os.urandom(11 << 20)  # three parts
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    until = now() + timedelta(hours=5)
    info = store.put("originals/big.bin", src, retain_until=until, legal_hold=True)
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket=bucket_name, Key="originals/big.bin", VersionId=info.version_id)
    assert head["ETag"].strip('"').endswith("-3")  # really multipart: a composite ETag, never compared
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockLegalHoldStatus"] == "ON"
    assert abs(head["ObjectLockRetainUntilDate"] - until) < timedelta(seconds=1)
    assert store.verify("originals/big.bin", info.sha256).ok
    with pytest.raises(RetentionLocked):
        store.delete("originals/big.bin")


def test_bucket_without_object_lock_is_refused_unless_allowed(s3_settings, bucket_name, s3_client):
    from storage.s3 import BucketNotLocked, S3Store

    s3_client.create_bucket(Bucket=bucket_name)
    strict = S3Store(bucket_name, **s3_settings)
    with pytest.raises(BucketNotLocked):
        strict.put("a.bin", b"x")
    with pytest.raises(BucketNotLocked):
        strict.init_bucket(default_retention_days=1)
    assert strict.worm is False and "NOT write-once" in strict.warning

    lax = S3Store(bucket_name, allow_unlocked=True, **s3_settings)
    info = lax.put("a.bin", b"x", retain_until=now() + timedelta(hours=1))
    assert info.mode is None and lax.get_bytes("a.bin") == b"x"
    assert lax.init_bucket(default_retention_days=1)["warning"].startswith("WARNING")


def test_prefix_keeps_installations_apart(s3_settings, bucket_name, s3_client):
    from storage.s3 import S3Store

    a = S3Store(bucket_name, prefix="site-a", **s3_settings)
    a.init_bucket(default_retention_days=None)
    b = S3Store(bucket_name, prefix="site-b/", **s3_settings)
    a.put("manifests/m.json", b"a")
    b.put("manifests/m.json", b"b")
    assert [o.key for o in a.list("manifests/")] == ["manifests/m.json"]
    assert a.get_bytes("manifests/m.json") == b"a" and b.get_bytes("manifests/m.json") == b"b"
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"])
    assert keys == ["site-a/manifests/m.json", "site-b/manifests/m.json"]


def test_credentials_never_appear_in_reprs_or_errors(s3_settings, bucket_name, monkeypatch):
    from storage import StorageError
    from storage.s3 import S3Store

    secret = "wrong-secret-Zq8XkP2mW7"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    params = dict(s3_settings)
    params["endpoint_url"] = params["endpoint_url"].replace("://", "://someone:" + secret + "@")
    store = S3Store(bucket_name, **params)
    assert secret not in repr(store)
    with pytest.raises(StorageError) as e:
        store.put("a.bin", b"x")
    assert secret not in str(e.value) and secret not in repr(e.value)
    assert e.value.__cause__ is None and e.value.__context__ is None or secret not in str(e.value.__context__)


def test_a_store_pickles_without_its_client(s3_store):
    import pickle

    s3_store.put("a.bin", b"before")
    copy = pickle.loads(pickle.dumps(s3_store))
    assert copy._client_obj is None
    assert copy.get_bytes("a.bin") == b"before"


def test_a_retention_kept_shorter_than_asked_is_an_error(s3_store):
    """Ceph RGW 16 keeps retain-until as 32-bit seconds: 2199-12-31 reads back as 2063-11-24.
    The put reads the lock back and refuses to call that stored (docs/storage.md)."""
    from storage import RetentionShort

    far = datetime(2199, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    with pytest.raises(RetentionShort, match="2106-02-07"):
        s3_store.put("originals/far.bin", b"kept for ever", retain_until=far)
    # within the server's range the lock reads back as asked
    near = datetime(2100, 1, 1, tzinfo=timezone.utc)
    assert s3_store.put("originals/near.bin", b"kept long", retain_until=near).retain_until == near


def test_an_extension_the_server_would_wrap_never_shortens_a_lock(s3_store, s3_client):
    """Ceph RGW 16 accepts PutObjectRetention with a date past 2106-02-07 even on a COMPLIANCE
    version and keeps it modulo 2**32 seconds: "extending" 2100 to 2199 would leave 2063. Extending
    (by `extend` or by a put of the same bytes) reads the lock back, puts the earlier date back at
    once and raises RetentionShort; on a server that keeps the date, the extension simply holds."""
    from storage import RetentionShort

    near = datetime(2100, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    far = datetime(2199, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    info = s3_store.put("originals/kept.bin", b"kept long", retain_until=near)
    for extend in (lambda: s3_store.extend_retention("originals/kept.bin", far),
                   lambda: s3_store.put("originals/kept.bin", b"kept long", retain_until=far)):
        try:
            extend()
        except RetentionShort as e:
            assert "2106-02-07" in str(e)
            expected = near  # the server wraps (Ceph RGW 16): the lock is what it was
        else:
            expected = far  # the server keeps the date (AWS, MinIO)
        r = s3_client.get_object_retention(Bucket=s3_store.bucket, Key="originals/kept.bin", VersionId=info.version_id)
        assert r["Retention"]["RetainUntilDate"] == expected and r["Retention"]["Mode"] == "COMPLIANCE"


def test_the_retention_probe_agrees_with_what_the_server_keeps(s3_store, s3_client):
    """`probe_retention` (what `footage storage init` runs, issue 23 item 7) against the real
    server, with a date every server keeps and one a 32-bit server wraps; its verdict is compared
    with the server's own answer to a plain boto3 put and read back of the same date."""
    from storage import RetentionShort

    for until in (datetime(2105, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
                  datetime(2199, 12, 31, 23, 59, 59, tzinfo=timezone.utc)):
        raw = f"raw/{until.year}"
        s3_client.put_object(Bucket=s3_store.bucket, Key=raw, Body=b"x", ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=until)
        kept = s3_client.head_object(Bucket=s3_store.bucket, Key=raw)["ObjectLockRetainUntilDate"] == until
        try:
            probe = s3_store.probe_retention(f"probes/{until.year}", until)
        except RetentionShort:
            probe = None
        assert (probe is not None) == kept, f"{until}: the server keeps it: {kept}, the probe says {probe}"
        if probe:
            assert probe["held"] == until.isoformat() and probe["asked"] == until.isoformat()
