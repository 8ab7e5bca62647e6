"""The tamper-evident audit log (articles 33-34: forging, editing or deleting records is punished).

Every event carries the SHA-256 of the event before it (a hash chain) and the acting user.
WORM storage cannot append to an object, so events are written in immutable *segments*, one
object per call (a run appends all its events in one call with :meth:`AuditLog.append_many`),
under retention, through the storage interface::

    audit/segments/<seq:012d>-<YYYYmmddTHHMMSSffffffZ>.json

The chain runs across segments: the first event of segment ``n`` names the hash of the last
event of segment ``n - 1``. The head of the chain is found by listing the segments (the sequence
number is zero-padded, so listing order is chain order); there is no mutable "head" object. The
listing is of every key that still has a version (:meth:`storage.ObjectStore.list_versions`), not
of current objects: a segment hidden by a delete marker keeps its sequence number taken and its
events in the log.

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
   (retention); :meth:`AuditLog.verify` accepts it only when every one of its events appears
   in the chain with the same id and content (``prev`` and ``hash`` aside), and reports any
   other fork as a broken link naming both segments. That is detection, not
   prevention: run one appending host per bucket, or give the S3 backend a conditional put
   (``If-None-Match: *``), which would make step 2 exact.

Versions
--------
On S3 Object Lock protects a version, not a key: a PUT may add a new version on top of a locked
segment, and a plain DELETE a delete marker that hides it from a listing of current objects.
Segments are read at the version written first (the one :meth:`AuditLog._discover` names, as
:func:`records.pinned.read_first` would), and :meth:`AuditLog.verify` reports every segment key
whose newest entry is a delete marker (``erased``; on the local backend: data whose metadata was
removed, which hides it the same way) and every segment key holding more than one version (a
forged set of new versions, even one re-chained end to end) as broken.

Retries
-------
A segment's put can land and still raise (its lock read back shorter than asked, a reply lost).
The batch is then remembered in the process (its id, :func:`batch_id`: the digest of its events'
content, and the key written); appending the same batch again, as a caller's retry does, finds
that segment and puts it again rather than writing the same events as a new segment.

A fork is therefore prevented on one host and reported, never silent, across hosts. Truncation of
the newest segments is the one change a hash chain alone cannot see (a version deleted for good:
a COMPLIANCE lock refuses it, a GOVERNANCE bypass or the local backend's files do not): publish
:attr:`Verification.head` somewhere else (the compliance report does) and pass it back as
``expected_head``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from storage import COMPLIANCE, ObjectInfo, ObjectNotFound, ObjectStore
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
# batches whose segment put raised, possibly after the segment landed: (store, batch) -> (key, when)
_unsure: dict[tuple[str, str], tuple[str, float]] = {}
UNSURE_TTL_S = 3600.0


def _ident(store: ObjectStore) -> str:
    return f"{type(store).__name__}:{getattr(store, 'root', None) or getattr(store, 'bucket', None) or id(store)}"


def _lock_for(store: ObjectStore) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(_ident(store), threading.Lock())


def batch_id(events: Iterable[dict[str, Any]]) -> str:
    """What identifies a batch of events across the retries of its append: the SHA-256 of their
    kinds, users, records and details (not their ids or times, which each try makes anew)."""
    body = [[e.get("kind"), e.get("user"), e.get("record"), e.get("detail") or {}] for e in events]
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


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
class Fork:
    """Two segments holding one sequence number that disagree (:meth:`AuditLog.verify`)."""

    seq: int
    segment: str  # the one the chain holds at that sequence number
    rival: str  # the other one
    index: int | None  # the rival's first event in question
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "segment": self.segment, "rival": self.rival, "index": self.index,
                "reason": self.reason}


@dataclass
class Verification:
    ok: bool
    segments: int
    events: int
    head: str  # hash of the last event of the canonical chain (GENESIS when empty)
    broken: BrokenLink | None = None
    orphans: list[str] = field(default_factory=list)  # fork losers whose events were re-appended
    overwritten: dict[str, int] = field(default_factory=dict)  # segment key -> its versions, where more than one
    erased: list[str] = field(default_factory=list)  # segment keys whose newest entry is a delete marker
    forks: list[Fork] = field(default_factory=list)  # segments of one sequence number that disagree

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
            "erased": list(self.erased),
            "forks": [f.to_dict() for f in self.forks],
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
        batch = (_ident(self.store), batch_id(drafts))
        with self._exclusive():
            landed = self._landed(batch)
            if landed is not None:
                return landed
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
                try:
                    self._put_segment(key, data)
                except Exception:
                    with _locks_guard:  # it may have landed (its check raised): a retry looks there first
                        _unsure[batch] = (key, time.monotonic())
                    raise
                if self._won(seq + 1, key):
                    return chained
            raise ForkError(f"could not append to the audit log after {self.max_retries} lost races")

    def _put_segment(self, key: str, data: bytes) -> None:
        seg = json.loads(data)
        self.store.put(
            key,
            data,
            sha256=hashlib.sha256(data).hexdigest(),
            metadata={"audit-seq": str(seg["seq"]), "audit-head": seg["head"]},
            retain_until=self.retain_until,
            mode=self.mode,
            content_type="application/json",
        )

    def _landed(self, batch: tuple[str, str]) -> list[dict[str, Any]] | None:
        """The events of ``batch`` when an earlier try of this process wrote its segment and then
        raised (a put whose check failed after the upload: RetentionShort, a lost reply): the
        retry does not write the same events again (issue 23). The segment is put again, which
        raises the same way while its lock still falls short, and extends it where it now can.
        None when that try left no segment, or one that lost its sequence number to a rival (the
        events are then appended anew, as after any lost race)."""
        with _locks_guard:
            now = time.monotonic()
            for old in [b for b, (_, when) in _unsure.items() if now - when > UNSURE_TTL_S]:
                del _unsure[old]
            key = _unsure.get(batch, (None, 0.0))[0]
        if key is None:
            return None
        try:
            data = read_first(self.store, key)
            seg = json.loads(data)
        except (ObjectNotFound, ValueError):
            seg = None
        if (not isinstance(seg, dict) or not isinstance(seg.get("seq"), int)
                or batch_id(seg.get("events") or []) != batch[1] or not self._won(seg["seq"], key)):
            with _locks_guard:
                _unsure.pop(batch, None)
            return None
        self._put_segment(key, data)
        with _locks_guard:
            _unsure.pop(batch, None)
        return seg["events"]

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

    # -- reading -----------------------------------------------------------------------------
    def _discover(self) -> tuple[dict[int, list[ObjectInfo]], dict[str, list[dict[str, Any]]]]:
        """Every segment key that still has a version, by sequence number, each as the
        :class:`ObjectInfo` of its version written first (``version_id``, ``last_modified`` and,
        where the listing has it, ``sha256`` of that version); and every segment key's entries,
        versions and delete markers, newest first (:meth:`storage.ObjectStore.list_versions`).

        A key hidden by a delete marker is here: its sequence number stays taken and its first
        version is part of the log. A key holding delete markers only has no segment.
        """
        history: dict[str, list[dict[str, Any]]] = {}
        for entry in self.store.list_versions(PREFIX):
            if parse_segment_key(entry["key"]):
                history.setdefault(entry["key"], []).append(entry)
        by_seq: dict[int, list[ObjectInfo]] = {}
        for key, entries in history.items():
            real = [v for v in entries if not v.get("delete_marker")]
            if not real:
                continue
            first = real[-1]
            info = ObjectInfo(key=key, size=first.get("size") or 0, sha256=first.get("sha256"),
                              version_id=first.get("version_id"), last_modified=first.get("last_modified"))
            by_seq.setdefault(parse_segment_key(key)[0], []).append(info)
        return by_seq, history

    def _segments(self) -> dict[int, list[ObjectInfo]]:
        return self._discover()[0]

    def _load(self, info: ObjectInfo) -> dict[str, Any]:
        # as first written (the version _discover names): a version PUT on top of a locked
        # segment is not the log, and a delete marker does not hide it
        return json.loads(self.store.get_bytes(info.key, info.version_id))

    def _head(self) -> tuple[int, str]:
        """(sequence number, hash of the last event) of the chain's newest segment, hidden ones
        included: a sequence number is never taken twice."""
        by_seq = self._segments()
        if not by_seq:
            return 0, GENESIS
        seq = max(by_seq)
        seg = self._load(_canonical_first(by_seq[seq]))
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
                seg = self._load(info)
                if chosen is None and seg.get("prev") == prev:
                    chosen = (info.key, seg)
            if chosen is None:  # broken chain: still show what is there, verify() says why
                info = _canonical_first(by_seq[seq])
                chosen = (info.key, self._load(info))
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
        for info in sorted((i for infos in self._segments().values() for i in infos), key=lambda o: o.key):
            if parse_segment_key(info.key)[1] >= stamp:
                out.extend(dict(e, segment=info.key) for e in self._load(info).get("events", []))
        return out

    # -- checking -------------------------------------------------------------------------
    def verify(self, expected_head: str | None = None, *, check: EventCheck | None = None) -> Verification:
        """Re-check the whole chain; name the first broken link (segment and event index).

        Segments are found from every key that still has a version (:meth:`_discover`) and read
        at the version written first. Besides the chain itself this reports:

        * a segment key whose newest entry is a delete marker (``erased``): a plain DELETE hid it
          (on the local backend: its metadata removed); its first version is still read and
          chained, but hiding an audit segment is tampering;
        * a fork (``forks``): two segments holding one sequence number with an event id in common
          whose content differs, or a segment that lost the race for its sequence number and
          holds an event the chain does not hold with the same content (a lost race re-appends
          the same events, ids and content, re-chained);
        * a segment key with more than one version (``overwritten``: a PUT on top of the locked
          one, or a delete marker), even when the chain of first versions holds (a re-chained
          forgery of new versions).

        ``check`` sees every event whose hash holds, in chain order; a reason it returns breaks the
        chain at that event. ``footage audit verify`` and the compliance report pass
        :class:`records.identity.ProofCheck`, which checks every signed event again against the key
        registered for its user when it was made (this module knows nothing of signatures).
        """
        by_seq, history = self._discover()
        overwritten = {k: len(v) for k, v in sorted(history.items()) if len(v) > 1}
        erased = sorted(k for k, v in history.items() if v[0].get("delete_marker"))
        prev = GENESIS
        n_events = 0
        n_segments = 0
        in_chain: dict[Any, tuple[str, dict[str, Any]]] = {}  # event id -> (segment key, content)
        chain_keys: dict[int, str] = {}
        orphans: list[tuple[int, str, dict[str, Any]]] = []
        forks: list[Fork] = []
        changed: set[str] = set()

        def fail(segment: str, index: int | None, reason: str) -> Verification:
            return Verification(False, n_segments, n_events, prev, BrokenLink(segment, index, reason),
                                overwritten=dict(overwritten), erased=list(erased), forks=list(forks))

        expected_seq = 1
        for seq in sorted(by_seq):
            candidates = _canonical_order(by_seq[seq])
            if seq != expected_seq:
                return fail(candidates[0].key, None, f"segment {expected_seq} is missing (next is {seq})")
            expected_seq += 1
            loaded = []
            for info in candidates:
                raw = self.store.get_bytes(info.key, info.version_id)
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
            for rival, other in loaded:
                fork = _differs(seq, key, seg, rival, other) if rival != key else None
                if fork is not None:
                    forks.append(fork)
                    return fail(fork.rival, fork.index, fork.reason)
            orphans.extend((seq, k, s) for k, s in loaded if k != key)
            chain_keys[seq] = key
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
                in_chain.setdefault(e.get("id"), (key, _content(e)))
                n_events += 1
            if seg.get("head") != prev:
                return fail(key, None, "segment head does not match its last event")
            if key in changed:
                return fail(key, None, "segment bytes differ from the checksum recorded when it was stored")
            n_segments += 1
        for seq, key, seg in orphans:
            fork = _lost(seq, chain_keys[seq], key, seg, in_chain)
            if fork is not None:
                forks.append(fork)
        if erased:
            return fail(erased[0], None, f"erased: {len(erased)} segment key(s) hidden by a delete marker (a plain "
                        "DELETE; on the local backend, its metadata removed); what they held is still read and "
                        f"chained, but an audit segment must never be hidden: {', '.join(erased)}")
        if forks:
            return fail(forks[0].rival, forks[0].index, forks[0].reason)
        if overwritten:
            keys = sorted(overwritten)
            listed = ", ".join(f"{k} ({overwritten[k]} versions)" for k in keys)
            return fail(keys[0], None, f"{len(keys)} segment key(s) hold more than one version, so something "
                        f"was written over a locked segment: {listed}")
        if expected_head is not None and expected_head != prev:
            return Verification(False, n_segments, n_events, prev,
                                BrokenLink(PREFIX, None, f"chain ends at {prev[:12]}..., expected head "
                                           f"{expected_head[:12]}... (segments removed from the end?)"))
        return Verification(True, n_segments, n_events, prev, None, [k for _, k, _ in orphans])


def _content(event: dict[str, Any]) -> dict[str, Any]:
    """What an event says, without its place in a chain (``prev``, ``hash``): a lost race
    re-appends the same content, re-chained."""
    return {k: v for k, v in event.items() if k not in ("prev", "hash")}


def _differs(seq: int, key: str, seg: dict[str, Any], rival: str, other: dict[str, Any]) -> Fork | None:
    """A fork when ``rival`` (another segment of sequence ``seq``) holds an event with an id of
    ``key``'s events whose content differs."""
    mine = {e.get("id"): _content(e) for e in seg.get("events") or [] if isinstance(e, dict)}
    for i, e in enumerate(other.get("events") or []):
        if isinstance(e, dict) and e.get("id") in mine and mine[e.get("id")] != _content(e):
            return Fork(seq, key, rival, i, f"fork: {rival} and {key} both hold sequence {seq}, and event #{i} "
                        f"of {rival} (id {str(e.get('id'))[:12]}...) differs in content from the event with "
                        f"that id in {key}")
    return None


def _lost(seq: int, key: str, rival: str, seg: dict[str, Any],
          in_chain: dict[Any, tuple[str, dict[str, Any]]]) -> Fork | None:
    """A fork when ``rival``, which lost sequence ``seq`` to ``key``, holds an event the chain
    does not hold with the same content (its events should have been re-appended as they were)."""
    events = [e if isinstance(e, dict) else {} for e in seg.get("events") or []]
    lost = [i for i, e in enumerate(events) if e.get("id") not in in_chain]
    if lost:
        return Fork(seq, key, rival, lost[0], f"fork: {rival} lost the race for sequence {seq} to {key} and "
                    f"{len(lost)} of its events are not in the chain")
    for i, e in enumerate(events):
        where, content = in_chain[e.get("id")]
        if content != _content(e):
            return Fork(seq, key, rival, i, f"fork: {rival} lost the race for sequence {seq} to {key}, and its "
                        f"event #{i} (id {str(e.get('id'))[:12]}...) differs in content from the event with that "
                        f"id in the chain ({where})")
    return None


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
