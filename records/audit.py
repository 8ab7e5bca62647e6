"""The tamper-evident audit log (articles 33-34: forging, editing or deleting records is punished).

Every event carries the SHA-256 of the event before it (a hash chain) and the acting user.
WORM storage cannot append to an object, so events are written in immutable *segments*, one
object per call (a run appends all its events in one call with :meth:`AuditLog.append_many`),
under retention, through the storage interface::

    audit/segments/<seq:012d>-<YYYYmmddTHHMMSSffffffZ>.json

The chain runs across segments: the first event of segment ``n`` names the hash of the last
event of segment ``n - 1``. The head of the chain is found by listing the segments (the sequence
number is zero-padded, so listing order is chain order); there is no mutable "head" object.

Concurrency
-----------
Two appenders must never fork the chain silently. The object-store interface has no
"create only if absent" put, and an optimistic protocol built on listing and ``last_modified``
cannot be exact (a store stamps ``last_modified`` before the object becomes visible, so a
stress test with three processes did fork it). So:

1. appending is a critical section: a thread lock (Prefect's thread-pool task runner) plus an
   exclusive ``flock`` on a lock file (other processes on the host: CLI calls, workers). For the
   local backend the lock file sits in the store's root, so every appender of that store takes
   it; :func:`open_audit` uses ``FOOTAGE_HOME/audit.lock`` for other backends. This is exact.
2. appenders on *different hosts* writing to one S3 bucket cannot share that lock. For them,
   each segment still takes the next sequence number and the appender lists that number again
   after writing: if a rival got there first (``last_modified``, then key) it writes its events
   again, re-chained, as a new segment on top. The orphaned segment cannot be deleted
   (retention); :meth:`AuditLog.verify` accepts it only when every one of its event ids appears
   in the chain, and reports any other fork as a broken link. That is detection, not
   prevention: run one appending host per bucket, or give the S3 backend a conditional put
   (``If-None-Match: *``), which would make step 2 exact.

Versions
--------
On S3 Object Lock protects a version, not a key: a PUT may add a new version on top of a locked
segment. Segments are read at the version written first (:func:`records.pinned.read_first`), and
:meth:`AuditLog.verify` reports every segment key holding more than one version (a forged set of
new versions, even one re-chained end to end, or a delete marker) as broken.

A fork is therefore prevented on one host and reported, never silent, across hosts. Truncation of
the newest segments is the one change a hash chain alone cannot see: publish
:attr:`Verification.head` somewhere else (the compliance report does) and pass it back as
``expected_head``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from storage import COMPLIANCE, ObjectInfo, ObjectStore
from storage.faults import fault

from records.keys import AUDIT_SEGMENTS, audit_segment_key
from records.pinned import read_first
from records.retention import retain_until

if TYPE_CHECKING:
    from records.settings import Settings

#: Checks one event of the chain beyond its hash (:meth:`AuditLog.verify`): None when it holds,
#: else why not. Fed every event in chain order, so it may keep state (the signature check of
#: :class:`records.identity.ProofCheck` notes each user's registered key).
EventCheck = Callable[[dict[str, Any]], str | None]

PREFIX = AUDIT_SEGMENTS
FORMAT = "footage-audit/1"
GENESIS = "0" * 64

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(store: ObjectStore) -> threading.Lock:
    ident = f"{type(store).__name__}:{getattr(store, 'root', None) or getattr(store, 'bucket', None) or id(store)}"
    with _locks_guard:
        return _locks.setdefault(ident, threading.Lock())


def event_hash(event: dict[str, Any]) -> str:
    """SHA-256 of an event's canonical JSON, without its own ``hash`` field."""
    body = {k: v for k, v in event.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def segment_key(seq: int, when: datetime) -> str:
    return audit_segment_key(seq, when)


def parse_segment_key(key: str) -> tuple[int, str] | None:
    """``(seq, timestamp text)`` of a segment key, or None for anything else under the prefix."""
    if not key.startswith(PREFIX) or not key.endswith(".json"):
        return None
    stem = key[len(PREFIX) : -len(".json")]
    seq, _, ts = stem.partition("-")
    if not seq.isdigit() or not ts:
        return None
    return int(seq), ts


@dataclass
class BrokenLink:
    """The first place where the chain does not hold."""

    segment: str  # object key
    index: int | None  # event index inside the segment; None when the segment as a whole fails
    reason: str

    def __str__(self) -> str:
        where = self.segment if self.index is None else f"{self.segment} event #{self.index}"
        return f"{where}: {self.reason}"


@dataclass
class Verification:
    ok: bool
    segments: int
    events: int
    head: str  # hash of the last event of the canonical chain (GENESIS when empty)
    broken: BrokenLink | None = None
    orphans: list[str] = field(default_factory=list)  # fork losers whose events were re-appended
    overwritten: dict[str, int] = field(default_factory=dict)  # segment key -> its versions, where more than one

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "segments": self.segments,
            "events": self.events,
            "head": self.head,
            "broken": None
            if self.broken is None
            else {"segment": self.broken.segment, "index": self.broken.index, "reason": self.broken.reason},
            "orphans": list(self.orphans),
            "overwritten": dict(self.overwritten),
        }


class ForkError(RuntimeError):
    """Appending kept losing the race for a sequence number."""


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return value.astimezone(timezone.utc)


class AuditLog:
    """An append-only, hash-chained event log kept in an object store.

    Parameters
    ----------
    store : ObjectStore
        Where the segments live.
    retain_until : datetime, optional
        Retention put on every segment (None: the store's default, e.g. a bucket default).
    mode : str
        Retention mode, ``COMPLIANCE`` by default.
    lock_path : Path, optional
        Lock file that serialises appenders across processes (default: ``.audit.lock`` in the
        root of a local store; none for other stores).
    max_retries : int
        How many times a lost race for a sequence number is retried (across hosts only).
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        retain_until: datetime | None = None,
        mode: str = COMPLIANCE,
        lock_path: Path | str | None = None,
        max_retries: int = 8,
    ):
        self.store = store
        self.retain_until = retain_until
        self.mode = mode
        self.max_retries = max_retries
        root = getattr(store, "root", None)
        if lock_path is None and isinstance(root, Path):
            lock_path = root / ".audit.lock"
        self.lock_path = Path(lock_path) if lock_path is not None else None
        self._lock = _lock_for(store)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Only one appender at a time: threads here, processes through the lock file."""
        with self._lock:
            if self.lock_path is None:
                yield
                return
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a+b") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- writing --------------------------------------------------------------------------
    def append(
        self, kind: str, *, user: str, record: str | None = None, detail: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Append one event as its own segment; returns the chained event."""
        return self.append_many([{"kind": kind, "user": user, "record": record, "detail": detail or {}}])[0]

    def append_many(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append events (dicts with ``kind``, ``user`` and optional ``record``, ``detail``,
        ``at``) as ONE segment; returns them chained, with ``id``, ``prev`` and ``hash``."""
        drafts = []
        for e in events:
            if not e.get("kind") or not e.get("user"):
                raise ValueError(f"an audit event needs a kind and a user: {e!r}")
            at = e.get("at") or datetime.now(timezone.utc)
            if isinstance(at, datetime):
                if at.tzinfo is None:
                    raise ValueError("event times must be timezone-aware")
                at = at.astimezone(timezone.utc).isoformat()
            drafts.append(
                {
                    "id": e.get("id") or uuid.uuid4().hex,
                    "at": at,
                    "kind": str(e["kind"]),
                    "user": str(e["user"]),
                    "record": e.get("record"),
                    "detail": e.get("detail") or {},
                }
            )
        if not drafts:
            return []
        fault("audit.before_append")
        with self._exclusive():
            for _ in range(self.max_retries):
                seq, prev = self._head()
                chained = self._chain(drafts, prev)
                now = datetime.now(timezone.utc)
                key = segment_key(seq + 1, now)
                body = {
                    "format": FORMAT,
                    "seq": seq + 1,
                    "created": now.isoformat(),
                    "prev": prev,
                    "head": chained[-1]["hash"],
                    "events": chained,
                }
                data = json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1).encode()
                self.store.put(
                    key,
                    data,
                    sha256=hashlib.sha256(data).hexdigest(),
                    metadata={"audit-seq": str(seq + 1), "audit-head": chained[-1]["hash"]},
                    retain_until=self.retain_until,
                    mode=self.mode,
                    content_type="application/json",
                )
                if self._won(seq + 1, key):
                    return chained
            raise ForkError(f"could not append to the audit log after {self.max_retries} lost races")

    @staticmethod
    def _chain(drafts: list[dict[str, Any]], prev: str) -> list[dict[str, Any]]:
        out = []
        for d in drafts:
            e = dict(d, prev=prev)
            e["hash"] = event_hash(e)
            prev = e["hash"]
            out.append(e)
        return out

    def _won(self, seq: int, key: str) -> bool:
        rivals = [o for o in self.store.list(f"{PREFIX}{seq:012d}-") if parse_segment_key(o.key)]
        return _canonical_first(rivals).key == key

    # -- reading --------------------------------------------------------------------------
    def _segments(self) -> dict[int, list[ObjectInfo]]:
        by_seq: dict[int, list[ObjectInfo]] = {}
        for info in self.store.list(PREFIX):
            parsed = parse_segment_key(info.key)
            if parsed:
                by_seq.setdefault(parsed[0], []).append(info)
        return by_seq

    def _read(self, key: str) -> dict[str, Any]:
        # as first written: a version PUT on top of a locked segment is not the log
        return json.loads(read_first(self.store, key))

    def _head(self) -> tuple[int, str]:
        """(sequence number, hash of the last event) of the chain's newest segment."""
        by_seq = self._segments()
        if not by_seq:
            return 0, GENESIS
        seq = max(by_seq)
        seg = self._read(_canonical_first(by_seq[seq]).key)
        return seq, seg["head"]

    def head(self) -> str:
        """The hash of the newest event (GENESIS for an empty log): publish it to detect truncation."""
        return self._head()[1]

    def _canonical(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, segment) in chain order, fork losers left out (no checks: see verify)."""
        by_seq = self._segments()
        prev = GENESIS
        for seq in sorted(by_seq):
            chosen = None
            for info in _canonical_order(by_seq[seq]):
                seg = self._read(info.key)
                if chosen is None and seg.get("prev") == prev:
                    chosen = (info.key, seg)
            if chosen is None:  # broken chain: still show what is there, verify() says why
                info = _canonical_first(by_seq[seq])
                chosen = (info.key, self._read(info.key))
            prev = chosen[1].get("head", prev)
            yield chosen

    def events(self, record: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Events in chain order, optionally only about ``record`` and at or after ``since``
        (timezone-aware: a day's midnight depends on the zone, which the caller knows)."""
        start = _as_utc(since) if since is not None else None
        out = []
        for key, seg in self._canonical():
            for e in seg.get("events", []):
                if record is not None and e.get("record") != record:
                    continue
                if start is not None and datetime.fromisoformat(e["at"]) < start:
                    continue
                out.append(dict(e, segment=key))  # read-time annotation, not hashed
        return out

    def events_written_since(self, when: datetime) -> list[dict[str, Any]]:
        """Events of the segments written at or after ``when`` (the time in a segment's key),
        fork rivals included: a cheap look at the recent log (a replayed signature,
        records.identity) that reads no older segment."""
        stamp = f"{_as_utc(when):%Y%m%dT%H%M%S%fZ}"
        out = []
        for info in sorted(self.store.list(PREFIX), key=lambda o: o.key):
            parsed = parse_segment_key(info.key)
            if parsed and parsed[1] >= stamp:
                out.extend(dict(e, segment=info.key) for e in self._read(info.key).get("events", []))
        return out

    # -- checking -------------------------------------------------------------------------
    def verify(self, expected_head: str | None = None, *, check: EventCheck | None = None) -> Verification:
        """Re-check the whole chain; name the first broken link (segment and event index).

        Every segment is read at the version written first, and every version of every segment
        key is counted: a segment is written once, so a key with more than one version (a PUT
        on top of the locked one, or a delete marker) is reported as broken even when the
        chain of first versions holds (a re-chained forgery of new versions).

        ``check`` sees every event whose hash holds, in chain order; a reason it returns breaks the
        chain at that event. ``footage audit verify`` and the compliance report pass
        :class:`records.identity.ProofCheck`, which checks every signed event again against the key
        registered for its user when it was made (this module knows nothing of signatures).
        """
        by_seq = self._segments()
        overwritten: dict[str, int] = {}
        first: dict[str, str | None] = {}
        for infos in by_seq.values():
            for info in infos:
                versions = self.store.versions(info.key) if hasattr(self.store, "versions") else []
                real = [v for v in versions if not v.get("delete_marker")]
                if len(versions) > 1:
                    overwritten[info.key] = len(versions)
                first[info.key] = real[-1]["version_id"] if real else None
        prev = GENESIS
        n_events = 0
        n_segments = 0
        seen_ids: set[str] = set()
        orphans: list[tuple[str, dict[str, Any]]] = []
        changed: set[str] = set()

        def fail(segment: str, index: int | None, reason: str) -> Verification:
            return Verification(False, n_segments, n_events, prev, BrokenLink(segment, index, reason),
                                overwritten=dict(overwritten))

        expected_seq = 1
        for seq in sorted(by_seq):
            candidates = _canonical_order(by_seq[seq])
            if seq != expected_seq:
                return fail(candidates[0].key, None, f"segment {expected_seq} is missing (next is {seq})")
            expected_seq += 1
            loaded = []
            for info in candidates:
                raw = self.store.get_bytes(info.key, first.get(info.key))
                if info.sha256 and hashlib.sha256(raw).hexdigest() != info.sha256:
                    # changed after it was written; the event checks below say where, if they can
                    changed.add(info.key)
                try:
                    seg = json.loads(raw)
                except ValueError:
                    return fail(info.key, None, "segment is not valid JSON")
                loaded.append((info.key, seg))
            chosen = next(((k, s) for k, s in loaded if s.get("prev") == prev), None)
            if chosen is None:
                key, seg = loaded[0]
                events = seg.get("events") or []
                if events and events[0].get("prev") != prev:
                    return fail(key, 0, f"prev {str(events[0].get('prev'))[:12]}... does not match the "
                                f"hash of the event before it ({prev[:12]}...)")
                return fail(key, None, "segment's prev does not match the end of the chain before it")
            key, seg = chosen
            orphans.extend((k, s) for k, s in loaded if k != key)
            if seg.get("seq") != seq:
                return fail(key, None, f"segment says seq {seg.get('seq')}, its key says {seq}")
            events = seg.get("events")
            if not events:
                return fail(key, None, "segment holds no events")
            for i, e in enumerate(events):
                if e.get("prev") != prev:
                    return fail(key, i, f"prev {str(e.get('prev'))[:12]}... does not match the hash of "
                                f"the event before it ({prev[:12]}...)")
                if event_hash(e) != e.get("hash"):
                    return fail(key, i, "event content does not match its hash (edited after it was written)")
                why = check(e) if check is not None else None
                if why:
                    return fail(key, i, why)
                prev = e["hash"]
                seen_ids.add(e.get("id"))
                n_events += 1
            if seg.get("head") != prev:
                return fail(key, None, "segment head does not match its last event")
            if key in changed:
                return fail(key, None, "segment bytes differ from the checksum recorded when it was stored")
            n_segments += 1
        for key, seg in orphans:
            lost = [i for i, e in enumerate(seg.get("events") or []) if e.get("id") not in seen_ids]
            if lost:
                return fail(key, lost[0], "fork: this segment lost the race for its sequence number and "
                            f"{len(lost)} of its events are not in the chain")
        if overwritten:
            keys = sorted(overwritten)
            listed = ", ".join(f"{k} ({overwritten[k]} versions)" for k in keys)
            return fail(keys[0], None, f"{len(keys)} segment key(s) hold more than one version, so something "
                        f"was written over a locked segment: {listed}")
        if expected_head is not None and expected_head != prev:
            return Verification(False, n_segments, n_events, prev,
                                BrokenLink(PREFIX, None, f"chain ends at {prev[:12]}..., expected head "
                                           f"{expected_head[:12]}... (segments removed from the end?)"))
        return Verification(True, n_segments, n_events, prev, None, [k for k, _ in orphans])


def _canonical_order(infos: list[ObjectInfo]) -> list[ObjectInfo]:
    """Rivals for one sequence number, the one written first leading."""
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(infos, key=lambda o: (o.last_modified or far, o.key))


def _canonical_first(infos: list[ObjectInfo]) -> ObjectInfo:
    return _canonical_order(infos)[0]


def open_audit(settings: Settings, store: ObjectStore) -> AuditLog:
    """The audit log in ``store`` (:func:`records.store.open_store`), segments kept as long as evidence."""
    cfg = settings.storage
    category = "audit" if "audit" in cfg.categories else "evidence" if "evidence" in cfg.categories else None
    until = None
    if category is not None:
        now = datetime.now(timezone.utc)
        until = retain_until(now, [category], cfg, ingested=now)
    lock = None if isinstance(getattr(store, "root", None), Path) else settings.home / "audit.lock"
    return AuditLog(store, retain_until=until, mode=cfg.mode, lock_path=lock)
