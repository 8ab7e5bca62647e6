"""Object keys of a record and its append-only event history.

A record is identified by the SHA-256 of its original file. Keys are deterministic, so a rerun
writes to the same key and never makes a second copy. WORM storage cannot append to an object,
so every later event about a record (retention extended, legal hold, explanation, disclosure
step) is an object of its own under ``records/<sha256>/events/``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from storage import ObjectStore

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str, fallback: str = "unknown") -> str:
    """A key component made only of safe characters (never ``..``, never a slash)."""
    cleaned = _SAFE.sub("-", text).strip(".-") or fallback
    return cleaned[:80]


def original_key(sha256: str, device: str, made: datetime, suffix: str) -> str:
    ext = safe_part(suffix.lower().lstrip("."), "bin")
    return f"originals/{safe_part(device)}/{made:%Y/%m/%d}/{sha256}.{ext}"


MANIFEST_PREFIX = "manifests/"


def manifest_key(sha256: str) -> str:
    return f"{MANIFEST_PREFIX}{sha256}.json"


def derivative_key(sha256: str, kind: str, suffix: str) -> str:
    return f"derivatives/{sha256}/{safe_part(kind)}.{safe_part(suffix.lstrip('.'), 'bin')}"


def event_key(sha256: str, kind: str, when: datetime) -> str:
    return f"records/{sha256}/events/{when:%Y%m%dT%H%M%S%fZ}-{safe_part(kind)}.json"


def add_record_event(
    store: ObjectStore,
    sha256: str,
    kind: str,
    *,
    user: str,
    detail: dict[str, Any] | None = None,
    retain_until: datetime | None = None,
) -> dict[str, Any]:
    """Append one event to a record's history as its own immutable object."""
    when = datetime.now(timezone.utc)
    event = {"record": sha256, "kind": kind, "at": when.isoformat(), "user": user, "detail": detail or {}}
    body = json.dumps(event, ensure_ascii=False, sort_keys=True).encode()
    store.put(event_key(sha256, kind, when), body, retain_until=retain_until, content_type="application/json")
    return event


def record_events(store: ObjectStore, sha256: str) -> list[dict[str, Any]]:
    events = [json.loads(store.get_bytes(o.key)) for o in store.list(f"records/{sha256}/events/")]
    return sorted(events, key=lambda e: e["at"])


def load_manifest(store: ObjectStore, sha256: str) -> dict[str, Any]:
    return json.loads(store.get_bytes(manifest_key(sha256)))


def key_suffix(name: str) -> str:
    return PurePosixPath(name).suffix or ".bin"
