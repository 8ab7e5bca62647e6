"""The hash-chained audit log: appends across segments, tampering found at the right event,
forks resolved or reported, never silent."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from records.audit import GENESIS, PREFIX, AuditLog, event_hash, open_audit, parse_segment_key
from storage import RetentionLocked


def _fill(log: AuditLog) -> list[str]:
    """Three segments: 1 event, 3 events, 2 events; returns the segment keys in chain order."""
    log.append("ingested", user="olga", record="a" * 64, detail={"file": "x.mp4"})
    log.append_many(
        [
            {"kind": "stored", "user": "olga", "record": "a" * 64, "detail": {"key": "originals/x"}},
            {"kind": "verified", "user": "olga", "record": "a" * 64},
            {"kind": "ingested", "user": "olga", "record": "b" * 64},
        ]
    )
    log.append_many([{"kind": "stored", "user": "olga", "record": "b" * 64}, {"kind": "fixity", "user": "cron"}])
    return [o.key for o in log.store.list(PREFIX)]


def _rewrite(store, key: str, change) -> None:
    """What an intruder with write access to the local folder could do (LocalStore is not WORM)."""
    path = store.objects / key
    seg = json.loads(path.read_text())
    change(seg)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_text(json.dumps(seg))


def test_chain_runs_across_segments(settings, store):
    log = open_audit(settings, store)
    keys = _fill(log)
    assert len(keys) == 3 and keys == sorted(keys)
    events = log.events()
    assert [e["kind"] for e in events] == ["ingested", "stored", "verified", "ingested", "stored", "fixity"]
    assert events[0]["prev"] == GENESIS
    for before, after in zip(events, events[1:]):
        assert after["prev"] == before["hash"]
        assert event_hash({k: v for k, v in after.items() if k != "segment"}) == after["hash"]
    v = log.verify()
    assert v.ok and v.events == 6 and v.segments == 3 and v.head == events[-1]["hash"] == log.head()


def test_segments_are_retained(settings, store):
    log = open_audit(settings, store)
    log.append("fixity", user="cron")
    key = next(iter(store.list(PREFIX))).key
    assert store.head(key).retain_until > datetime.now(timezone.utc) + timedelta(days=365)
    with pytest.raises(RetentionLocked):
        store.delete(key)


def test_filters(settings, store):
    log = open_audit(settings, store)
    _fill(log)
    assert [e["kind"] for e in log.events(record="b" * 64)] == ["ingested", "stored"]
    assert len(log.events(since=datetime.now(timezone.utc) - timedelta(minutes=5))) == 6
    assert log.events(since=datetime.now(timezone.utc) + timedelta(minutes=5)) == []


def test_edited_event_is_found_at_that_event(settings, store):
    log = open_audit(settings, store)
    keys = _fill(log)

    def edit(seg):
        seg["events"][1]["user"] = "mallory"  # the 'verified' event, second of segment 2

    _rewrite(store, keys[1], edit)
    v = log.verify()
    assert not v.ok
    assert (v.broken.segment, v.broken.index) == (keys[1], 1)
    assert "hash" in v.broken.reason
    assert v.events == 2  # the two events before it were checked and hold


def test_rehashed_forgery_breaks_the_next_link(settings, store):
    log = open_audit(settings, store)
    keys = _fill(log)

    def forge(seg):
        e = seg["events"][0]
        e["detail"] = {"key": "originals/forged"}
        e["hash"] = event_hash(e)  # a careful forger recomputes the event's own hash

    _rewrite(store, keys[1], forge)
    v = log.verify()
    assert not v.ok and (v.broken.segment, v.broken.index) == (keys[1], 1)
    assert "prev" in v.broken.reason


def test_removed_segment_is_found(settings, store):
    log = open_audit(settings, store)
    keys = _fill(log)
    (store.objects / keys[1]).chmod(stat.S_IRUSR | stat.S_IWUSR)
    os.unlink(store.objects / keys[1])
    os.unlink(store.meta / (keys[1] + ".json"))
    v = log.verify()
    assert not v.ok and v.broken.segment == keys[2] and "segment 2 is missing" in v.broken.reason


def test_truncation_is_found_against_a_published_head(settings, store):
    log = open_audit(settings, store)
    keys = _fill(log)
    published = log.head()
    (store.objects / keys[2]).chmod(stat.S_IRUSR | stat.S_IWUSR)
    os.unlink(store.objects / keys[2])
    os.unlink(store.meta / (keys[2] + ".json"))
    assert log.verify().ok  # a hash chain alone cannot see its tail cut off ...
    v = log.verify(expected_head=published)
    assert not v.ok and "expected head" in v.broken.reason  # ... a head kept elsewhere can


def test_a_lost_race_is_re_appended_not_forked(settings, store):
    """Two appenders read the same head; the later writer sees the rival, re-chains and retries."""
    log_a = open_audit(settings, store)
    log_a.append("ingested", user="olga", record="a" * 64)

    log_b = AuditLog(store, retain_until=log_a.retain_until)
    stale = iter([(0, GENESIS)])  # B read the head before A's segment existed
    real_head = log_b._head
    log_b._head = lambda: next(stale, None) or real_head()
    event = log_b.append("fixity", user="cron")

    keys = [o.key for o in store.list(PREFIX)]
    assert len(keys) == 3  # A's segment 1, B's orphan at seq 1, B's retry at seq 2
    assert [e["kind"] for e in log_a.events()] == ["ingested", "fixity"]
    assert log_a.events()[1]["id"] == event["id"]
    v = log_a.verify()
    assert v.ok and v.events == 2 and len(v.orphans) == 1


def test_a_fork_that_lost_events_is_reported(settings, store):
    log = open_audit(settings, store)
    log.append("ingested", user="olga")
    # a rival segment 1 written later by a writer that never retried: its event is not in the chain
    rival = {"kind": "released", "user": "x", "id": "f" * 32, "at": datetime.now(timezone.utc).isoformat(),
             "record": None, "detail": {}, "prev": GENESIS}
    rival["hash"] = event_hash(rival)
    seg = {"format": "footage-audit/1", "seq": 1, "created": rival["at"], "prev": GENESIS,
           "head": rival["hash"], "events": [rival]}
    key = f"{PREFIX}{1:012d}-29991231T000000000000Z.json"
    store.put(key, json.dumps(seg).encode())
    v = log.verify()
    assert not v.ok and v.broken.segment == key and v.broken.index == 0 and "fork" in v.broken.reason


def test_events_need_kind_and_user(settings, store):
    log = open_audit(settings, store)
    with pytest.raises(ValueError):
        log.append("fixity", user="")
    assert log.append_many([]) == []
    assert log.verify().ok and log.verify().head == GENESIS


def _append_from_another_process(root: str, user: str, n: int, barrier) -> None:
    from storage import LocalStore

    log = AuditLog(LocalStore(root))
    barrier.wait()
    for i in range(n):
        log.append("fixity", user=user, detail={"i": i})


def test_concurrent_appenders_keep_one_chain(settings, store):
    """Threads of one process and separate processes, all at once: one chain, nothing lost."""
    import multiprocessing
    import threading

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold Prefect threads
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_append_from_another_process, args=(str(store.root), f"p{k}", 15, barrier))
             for k in range(2)]
    for p in procs:
        p.start()
    log = open_audit(settings, store)
    barrier.wait()
    threads = [threading.Thread(target=lambda k=k: [log.append("verified", user=f"t{k}") for _ in range(5)])
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads + procs:
        t.join()
    assert all(p.exitcode == 0 for p in procs)
    v = log.verify()
    assert v.ok and v.events == 45 and v.segments == 45 and not v.orphans
    assert len({e["id"] for e in log.events()}) == 45


# -- issue 23 items 3 and 4: erased and forked segments --------------------------------------------
def _verify_cli(*args: str):
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, ["audit", "verify", *args])


def test_a_hidden_newest_segment_is_not_reused_and_verify_names_it(settings, store):
    """The local analogue of a delete marker: the segment's metadata removed (what ``list`` walks),
    its bytes left in place. The next append must not take its sequence number again, and
    ``verify`` (and ``footage audit verify``) must name the hidden key."""
    log = open_audit(settings, store)
    keys = _fill(log)
    hidden = keys[-1]
    os.unlink(store.meta / (hidden + ".json"))  # an intruder with write access to the folder
    assert hidden not in [o.key for o in store.list(PREFIX)]  # gone from the listing ...
    assert (store.objects / hidden).exists()  # ... its bytes still there

    event = log.append("released", user="mallory", record="c" * 64)
    new = sorted({o.key for o in store.list(PREFIX)} - set(keys))
    assert len(new) == 1 and parse_segment_key(new[0])[0] == 4  # sequence 3 is not taken again
    assert event["prev"] == json.loads((store.objects / hidden).read_text())["head"]  # chained on it

    v = log.verify()
    assert not v.ok and v.erased == [hidden]
    assert v.broken.segment == hidden and "erased" in v.broken.reason
    assert v.events == 7 and v.head == event["hash"]  # the chain of what was written still holds
    assert [e["kind"] for e in log.events()][-3:] == ["stored", "fixity", "released"]  # still readable
    assert v.to_dict()["erased"] == [hidden]

    r = _verify_cli()
    assert r.exit_code == 1 and "BROKEN" in r.stdout and hidden in r.stdout and "erased" in r.stdout
    doc = json.loads(_verify_cli("--json").stdout)
    assert not doc["ok"] and doc["erased"] == [hidden]


def test_a_sequence_number_taken_again_before_the_fix_is_reported(settings, store):
    """A log in which an appender that only saw current keys (before issue 23) wrote over the
    sequence number of a hidden segment: verify names the hidden key and the fork."""
    log = open_audit(settings, store)
    keys = _fill(log)
    os.unlink(store.meta / (keys[-1] + ".json"))
    old = AuditLog(store, retain_until=log.retain_until)
    seg2 = json.loads(store.get_bytes(keys[1]))
    old._head = lambda: (2, seg2["head"])  # what the listing of current keys said
    old.append("released", user="mallory")
    again = sorted({o.key for o in store.list(PREFIX)} - set(keys))[0]
    assert parse_segment_key(again)[0] == 3

    v = log.verify()
    assert not v.ok and v.erased == [keys[-1]] and v.broken.segment == keys[-1]
    (fork,) = v.forks
    assert (fork.seq, fork.segment, fork.rival) == (3, keys[-1], again) and "not in the chain" in fork.reason


def _rival(store, key: str, seq: int, stamp: str) -> str:
    """A rival segment ``seq`` of ``key`` (same event ids, one detail edited, re-hashed), put
    through the store's own API."""
    from faultkit import forked_segment

    rival = f"{PREFIX}{seq:012d}-{stamp}.json"
    store.put(rival, forked_segment(store.get_bytes(key), 0, "detail", {"key": "originals/forged"}))
    return rival


@pytest.mark.parametrize("seq, written", [(2, "later"), (3, "earlier")])
def test_a_forked_segment_with_the_same_ids_and_edited_content_is_reported(settings, store, seq, written):
    """A rival segment with the same sequence number and event ids but other content: reported
    as a fork naming both keys, whichever of the two counts as written first (a back-dated rival
    of the newest segment would otherwise even be the one the log reads)."""
    log = open_audit(settings, store)
    keys = _fill(log)
    assert log.verify().ok
    real = keys[seq - 1]
    rival = _rival(store, real, seq, "29991231T000000000000Z")
    if written == "earlier":  # the intruder also back-dates the rival's metadata
        meta_path = store.meta / (rival + ".json")
        meta = json.loads(meta_path.read_text())
        meta["last_modified"] = "2000-01-01T00:00:00+00:00"
        meta_path.write_text(json.dumps(meta))

    v = log.verify()
    assert not v.ok
    assert "fork" in v.broken.reason and v.broken.segment in (real, rival)
    assert real in str(v.broken) and rival in str(v.broken)
    (fork,) = v.forks
    assert {fork.segment, fork.rival} == {real, rival} and fork.seq == seq
    assert v.to_dict()["forks"][0]["seq"] == seq

    r = _verify_cli()
    assert r.exit_code == 1 and "BROKEN" in r.stdout
    assert real in r.stdout and rival in r.stdout and "fork" in r.stdout
