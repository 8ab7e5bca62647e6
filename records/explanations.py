"""Written explanations of findings (article 21): stored objects, never edited.

An explanation of a finding (a gap id such as ``gap-20261120T093000``, or ``opening``) is an
object of its own under ``explanations/<session>/<finding>/<UTC time>.json``; a later explanation
supersedes the earlier one (it names it in ``supersedes``). Reports show the latest and stop
flagging the finding. An explanation is kept like a record of the default retention category
(:func:`records.retention.retain_until`, ``min_days_after_ingest`` included).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from records.keys import explanation_key, explanation_prefix
from records.pinned import read_first
from records.retention import retain_until

_FINDING_ID = re.compile(r"^(opening|gap-\d{8}T\d{6})$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


def load_explanations(store, session_ids: list[str]) -> dict[str, dict[str, dict]]:
    """session id -> finding id -> the latest explanation (with its ``key``)."""
    out: dict[str, dict[str, dict]] = {}
    for sid in session_ids:
        if not _SESSION_ID.match(sid):
            continue
        latest: dict[str, dict] = {}
        for info in store.list(explanation_prefix(sid)):
            body = json.loads(read_first(store, info.key))  # as first written: a later version is no explanation
            body["key"] = info.key
            finding = body.get("gap")
            if finding and (finding not in latest or body["at"] > latest[finding]["at"]):
                latest[finding] = body
        if latest:
            out[sid] = latest
    return out


def store_explanation(store, settings, session: str, finding: str, text: str, by: str) -> dict[str, Any]:
    """Write one explanation object; returns what was stored (with its key)."""
    if not _SESSION_ID.match(session):
        raise ValueError(f"not a session id: {session!r}")
    if not _FINDING_ID.match(finding):
        raise ValueError(f"not a finding id: {finding!r} (expected 'opening' or gap-YYYYMMDDTHHMMSS)")
    if not text.strip() or not by.strip():
        raise ValueError("an explanation needs a text and the officer who gives it")
    now = datetime.now(timezone.utc)
    previous = load_explanations(store, [session]).get(session, {}).get(finding)
    body = {
        "session": session,
        "gap": finding,
        "text": text.strip(),
        "by": by.strip(),
        "at": now.isoformat(),
        "supersedes": previous["key"] if previous else None,
    }
    key = explanation_key(session, finding, now)
    until = retain_until(now, None, settings.storage, ingested=now)
    store.put(key, json.dumps(body, ensure_ascii=False, sort_keys=True).encode(), retain_until=until,
              content_type="application/json", metadata={"session": session, "finding": finding})
    return {**body, "key": key}
