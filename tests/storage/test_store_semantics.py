"""The behaviour every backend shares (run over local and S3), so the local default keeps the
same semantics as the WORM store used in production."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest

from storage import COMPLIANCE, GOVERNANCE, IntegrityError, ObjectNotFound, RetentionLocked


def now() -> datetime:
    return datetime.now(timezone.utc)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_head_get_list_verify(store, tmp_path):
    data = os.urandom(200_000)
    src = tmp_path / "clip.mp4"
    src.write_bytes(data)
    until = now() + timedelta(hours=2)
    info = store.put("originals/cam-1/2026/11/27/clip.mp4", src, sha256=sha(data), retain_until=until,
                     metadata={"device": "cam-1", "officer": "张三"}, content_type="video/mp4")
    assert info.size == len(data) and info.sha256 == sha(data)
    assert info.mode == COMPLIANCE and abs(info.retain_until - until) < timedelta(seconds=1)

    store.put("manifests/x.json", b'{"a": 1}')
    head = store.head("originals/cam-1/2026/11/27/clip.mp4")
    assert head.sha256 == sha(data) and head.size == len(data)
    assert head.metadata == {"device": "cam-1", "officer": "张三"}
    assert store.get_bytes("manifests/x.json") == b'{"a": 1}'
    with store.open("originals/cam-1/2026/11/27/clip.mp4") as f:
        assert f.read() == data
    out = store.download("originals/cam-1/2026/11/27/clip.mp4", tmp_path / "back.mp4")
    assert out.read_bytes() == data

    assert [o.key for o in store.list("originals/")] == ["originals/cam-1/2026/11/27/clip.mp4"]
    assert sorted(o.key for o in store.list()) == ["manifests/x.json", "originals/cam-1/2026/11/27/clip.mp4"]
    assert [o.size for o in store.list("manifests/")] == [8]

    ok = store.verify("originals/cam-1/2026/11/27/clip.mp4", sha(data))
    assert ok.ok and ok.size == len(data)
    bad = store.verify("originals/cam-1/2026/11/27/clip.mp4", sha(b"other"))
    assert not bad.ok and not bad.missing and bad.actual == sha(data)
    gone = store.verify("originals/none.mp4", sha(data))
    assert gone.missing and not gone.ok
    assert store.exists("manifests/x.json") and not store.exists("manifests/y.json")
    with pytest.raises(ObjectNotFound):
        store.head("manifests/y.json")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("manifests/y.json")


def test_put_is_idempotent(store):
    until = now() + timedelta(hours=1)
    first = store.put("records/a.json", b"same bytes", retain_until=until)
    again = store.put("records/a.json", b"same bytes", retain_until=until)
    assert again.sha256 == first.sha256 and again.version_id == first.version_id
    assert [o.key for o in store.list("records/")] == ["records/a.json"]
    if store.name == "s3":
        assert len(store.versions("records/a.json")) == 1  # never a second version


def test_a_put_again_raises_the_lock_of_what_is_there_and_never_lowers_it(store):
    """The same bytes put again with a later retain-until (a rerun whose record now needs more:
    a sidecar since, a setting fixed) extend the stored lock; an earlier one leaves it (issue 23)."""
    short, long = now() + timedelta(hours=1), now() + timedelta(days=400)
    first = store.put("originals/r.bin", b"same bytes", retain_until=short)
    again = store.put("originals/r.bin", b"same bytes", retain_until=long, legal_hold=True)
    assert again.version_id == first.version_id
    for info in (again, store.head("originals/r.bin")):
        assert abs(info.retain_until - long) < timedelta(seconds=1) and info.legal_hold
    store.put("originals/r.bin", b"same bytes", retain_until=short)
    assert abs(store.head("originals/r.bin").retain_until - long) < timedelta(seconds=1)
    if store.name == "s3":
        assert len(store.versions("originals/r.bin")) == 1  # never a second version


def test_delete_of_locked_object_is_refused(store):
    store.put("originals/locked.bin", b"evidence", retain_until=now() + timedelta(hours=1))
    with pytest.raises(RetentionLocked):
        store.delete("originals/locked.bin")
    with pytest.raises(RetentionLocked):
        store.delete("originals/locked.bin", bypass_governance=True)  # COMPLIANCE: no bypass
    assert store.get_bytes("originals/locked.bin") == b"evidence"


def test_overwrite_of_locked_object_is_refused(store):
    store.put("originals/o.bin", b"first", retain_until=now() + timedelta(hours=1))
    with pytest.raises(RetentionLocked):
        store.put("originals/o.bin", b"second")
    assert store.get_bytes("originals/o.bin") == b"first"


def test_unlocked_object_can_be_deleted(store):
    store.put("tmp/free.bin", b"free")
    store.delete("tmp/free.bin")
    assert not store.exists("tmp/free.bin")


def test_legal_hold_blocks_delete_until_cleared(store):
    store.put("originals/held.bin", b"held", legal_hold=True)
    assert store.head("originals/held.bin").legal_hold
    with pytest.raises(RetentionLocked):
        store.delete("originals/held.bin", bypass_governance=True)
    assert store.set_legal_hold("originals/held.bin", False).legal_hold is False
    store.delete("originals/held.bin")
    assert not store.exists("originals/held.bin")


def test_legal_hold_set_later(store):
    store.put("originals/later.bin", b"later")
    assert store.set_legal_hold("originals/later.bin", True).legal_hold
    with pytest.raises(RetentionLocked):
        store.delete("originals/later.bin")


def test_extend_never_shortens(store):
    first = now() + timedelta(hours=1)
    store.put("originals/e.bin", b"extend me", retain_until=first)
    later = now() + timedelta(days=2)
    info = store.extend_retention("originals/e.bin", later)
    assert abs(info.retain_until - later) < timedelta(seconds=1)
    with pytest.raises(RetentionLocked):
        store.extend_retention("originals/e.bin", first)
    assert abs(store.head("originals/e.bin").retain_until - later) < timedelta(seconds=1)


def test_governance_delete_needs_bypass(store):
    store.put("originals/g.bin", b"governed", retain_until=now() + timedelta(hours=1), mode=GOVERNANCE)
    assert store.head("originals/g.bin").mode == GOVERNANCE
    with pytest.raises(RetentionLocked):
        store.delete("originals/g.bin")
    assert store.exists("originals/g.bin")
    store.delete("originals/g.bin", bypass_governance=True)
    assert not store.exists("originals/g.bin")


def test_wrong_sha256_is_an_integrity_error(store, tmp_path):
    with pytest.raises(IntegrityError):
        store.put("originals/w.bin", b"actual bytes", sha256=sha(b"claimed bytes"), retain_until=now() + timedelta(hours=1))
    src = tmp_path / "w.bin"
    src.write_bytes(b"file bytes")
    with pytest.raises(IntegrityError):
        store.put("originals/w2.bin", src, sha256=sha(b"claimed bytes"), retain_until=now() + timedelta(hours=1))
    assert not store.exists("originals/w.bin") and not store.exists("originals/w2.bin")
    assert list(store.list("originals/")) == []


def test_naive_dates_are_refused(store):
    from storage import StorageError

    with pytest.raises(StorageError):
        store.put("originals/n.bin", b"x", retain_until=datetime.now())
