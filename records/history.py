"""A record's history: one immutable object per event under ``records/<sha256>/events/``.

:func:`record_event` is how commands and flows note what they did to a record: the event goes
to the record's own history and, with the same kind and detail, to the audit log.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from storage import ObjectStore

from records.audit import open_audit
from records.keys import event_key, events_prefix, safe_part
from records.pinned import read_first

if TYPE_CHECKING:
    from records.settings import Settings


def record_event(
    settings: Settings,
    store: ObjectStore,
    sha256: str,
    kind: str,
    *,
    user: str,
    detail: dict[str, Any] | None = None,
    retain_until: datetime | None = None,
    on_audit_error: Callable[[Exception], None] | None = None,
) -> dict[str, Any]:
    """Append one event to the record's history, as its own immutable object, and the same
    event to the audit log.

    Parameters
    ----------
    settings, store
        The configuration (for the audit log's retention) and the store both live in.
    sha256 : str
        The record.
    kind, user, detail
        What happened, who did it, and its particulars.
    retain_until : datetime, optional
        Retention of the history object (None: the store's default).
    on_audit_error : callable, optional
        Called with the exception when the audit append fails; without it the exception
        propagates. The history object is written first, so it is the primary trail.

    Returns
    -------
    dict
        The history event as stored.
    """
    event = note_event(store, sha256, kind, user=user, detail=detail, retain_until=retain_until)
    try:
        open_audit(settings, store).append(kind, user=user, record=sha256, detail=detail or {})
    except Exception as exc:
        if on_audit_error is None:
            raise
        on_audit_error(exc)
    return event


def note_event(
    store: ObjectStore,
    sha256: str,
    kind: str,
    *,
    user: str,
    detail: dict[str, Any] | None = None,
    retain_until: datetime | None = None,
) -> dict[str, Any]:
    """Append one event to the record's history only: the ingest commit protocol's own markers
    (docs/reliability.md), whose audit events go into the run's one segment instead."""
    when = datetime.now(timezone.utc)
    event = {"record": sha256, "kind": kind, "at": when.isoformat(), "user": user, "detail": detail or {}}
    body = json.dumps(event, ensure_ascii=False, sort_keys=True).encode()
    store.put(event_key(sha256, kind, when), body, retain_until=retain_until, content_type="application/json")
    return event


def record_events(store: ObjectStore, sha256: str) -> list[dict[str, Any]]:
    """A record's history, oldest first."""
    events = [json.loads(read_first(store, o.key)) for o in store.list(events_prefix(sha256))]
    return sorted(events, key=lambda e: e["at"])


def events_of_kind(store: ObjectStore, sha256: str, kind: str) -> list[dict[str, Any]]:
    """The record's events of ``kind``, oldest first (read by key, so only those are fetched)."""
    suffix = f"-{safe_part(kind)}.json"
    keys = sorted(o.key for o in store.list(events_prefix(sha256)) if o.key.endswith(suffix))
    return [json.loads(read_first(store, k)) for k in keys]


def has_event(store: ObjectStore, sha256: str, kind: str) -> bool:
    suffix = f"-{safe_part(kind)}.json"
    return any(o.key.endswith(suffix) for o in store.list(events_prefix(sha256)))
