"""Shared pieces of the fault-injection tests (tests/reliability, tests/storage/test_s3_*)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from media.synth import make_clip

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_inbox(inbox: Path) -> dict[str, str]:
    """Three short clips of one camera and a file that is not media; name -> SHA-256."""
    inbox.mkdir(parents=True)
    for i in range(3):
        start = T0 + timedelta(seconds=3 * i)
        make_clip(inbox / f"CAM-1_7001_{start:%Y%m%d%H%M%S}_{i + 1:04d}.MP4", 2, width=160, height=120, fps=10,
                  creation_time=start, seed=i)
    (inbox / "note.txt").write_text("not a video\n")
    return {p.name: sha(p) for p in inbox.iterdir()}


def add_sidecars(inbox: Path, planted: dict[str, str], body: dict) -> None:
    """A sidecar JSON ``body`` beside every planted media file (as an operator adds one after a crash)."""
    import json

    for name in planted:
        if name.endswith(".MP4"):
            (inbox / f"{name}.json").write_text(json.dumps(body))


def record_counts(store, home: Path, planted: dict[str, str]) -> dict[str, object]:
    """Lost, duplicated and audited, counted over ``store`` and ``home``'s quarantine: what every
    fault test asserts, whatever the backend."""
    from records.audit import AuditLog
    from records.manifest import iter_manifests

    manifests = {m.sha256: m for m in iter_manifests(store)}
    originals = Counter(o.key.rsplit("/", 1)[-1].split(".")[0] for o in store.list("originals/"))
    quarantined = {sha(p) for p in (home / "quarantine").glob("*") if not p.name.endswith(".reason.json")}
    audit = AuditLog(store)
    events = Counter((e["kind"], e.get("record")) for e in audit.events())
    media = {s for n, s in planted.items() if n.endswith(".MP4")}
    return {
        "lost": sorted(s for s in planted.values() if s not in manifests and s not in quarantined),
        "bit_for_bit": all(store.verify(m.stored.key, s).ok for s, m in manifests.items()),
        "duplicated": sorted(s for s, n in originals.items() if n > 1),
        "audit_ok": audit.verify().ok,
        "missing_events": sorted(
            (kind, s[:12]) for s in media for kind in ("ingested", "stored", "verified") if events[(kind, s)] == 0
        ),
        "quarantine_event": any(k == "quarantined" for k, _ in events),
    }


def wait_held(held: Path, run, timeout: float = 300) -> None:
    """Wait until a crash point held by ``FOOTAGE_FAULT=POINT:hold`` writes ``held`` (or ``run`` ends)."""
    import time

    deadline = time.monotonic() + timeout
    while not held.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)


def locks_shorter_than_manifest(store) -> list[str]:
    """Every stored copy (original, master, access copy) whose lock, read from the store, ends
    before the date its manifest records."""
    from records.manifest import iter_manifests

    short = []
    for m in iter_manifests(store):
        for copy in [m.stored, *(m.archive.stored if m.archive else [])]:
            got = store.head(copy.key, copy.version_id).retain_until
            if copy.retain_until is not None and (got is None or got < copy.retain_until - timedelta(seconds=1)):
                short.append(f"{copy.kind or 'original'} {copy.key}: {got} < {copy.retain_until}")
    return short


def forked_segment(raw: bytes, event: int, field: str, value) -> bytes:
    """A rival of the audit segment ``raw``: the same sequence number and event ids, ``field`` of
    event ``event`` set to ``value`` and every hash computed again (a careful forger)."""
    import json

    from records.audit import event_hash

    seg = json.loads(raw)
    seg["events"][event][field] = value
    prev = seg["prev"]
    for e in seg["events"]:
        e["prev"] = prev
        e["hash"] = prev = event_hash(e)
    seg["head"] = prev
    return json.dumps(seg, sort_keys=True, indent=1).encode()
