"""A record's history: one immutable object per event under ``records/<sha256>/events/``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from storage import ObjectStore

from records.keys import event_key, events_prefix, safe_part


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
    events = [json.loads(store.get_bytes(o.key)) for o in store.list(events_prefix(sha256))]
    return sorted(events, key=lambda e: e["at"])


def events_of_kind(store: ObjectStore, sha256: str, kind: str) -> list[dict[str, Any]]:
    """The record's events of ``kind``, oldest first (read by key, so only those are fetched)."""
    suffix = f"-{safe_part(kind)}.json"
    keys = sorted(o.key for o in store.list(events_prefix(sha256)) if o.key.endswith(suffix))
    return [json.loads(store.get_bytes(k)) for k in keys]


def has_event(store: ObjectStore, sha256: str, kind: str) -> bool:
    suffix = f"-{safe_part(kind)}.json"
    return any(o.key.endswith(suffix) for o in store.list(events_prefix(sha256)))
