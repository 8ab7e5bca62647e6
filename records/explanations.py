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
from typing import Any, ClassVar

from pydantic import ConfigDict

from records.contract import Contract, IsoTime
from records.keys import explanation_key, explanation_prefix
from records.pinned import read_first
from records.retention import retain_until

_FINDING_ID = re.compile(r"^(opening|gap-\d{8}T\d{6})$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


class Explanation(Contract):
    """One written explanation of a finding, as stored (``explanations/<session>/<finding>/...``)
    plus ``key``, the object it is stored as.

    The fields are in the order a stored explanation reads back (the object's keys sorted, then
    ``key``): the order the gap document, ``gaps.json`` and the manifests' findings hold it in.
    ``gap`` is the finding's id (a gap id, or ``opening``); ``supersedes`` the key of the
    explanation it replaces.
    """

    model_config = ConfigDict(extra="allow")

    at: IsoTime
    by: str
    gap: str
    session: str
    supersedes: str | None = None
    text: str
    key: str

    #: the order ``footage gaps explain --json`` prints the stored explanation in
    WRITTEN: ClassVar[tuple[str, ...]] = ("session", "gap", "text", "by", "at", "supersedes", "key")

    def stored_json(self) -> bytes:
        """The stored object (without ``key``, which names it): keys sorted."""
        body = {k: v for k, v in self.to_json_dict().items() if k != "key"}
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()

    def as_written(self) -> dict[str, Any]:
        """The JSON of ``footage gaps explain --json``: the fields in the order they are given."""
        body = self.to_json_dict()
        return {**{k: body[k] for k in self.WRITTEN if k in body}, **body}


#: session id -> finding id -> its latest explanation
Explanations = dict[str, dict[str, Explanation]]


def load_explanations(store, session_ids: list[str]) -> Explanations:
    """session id -> finding id -> the latest explanation (with its ``key``)."""
    out: Explanations = {}
    for sid in session_ids:
        if not _SESSION_ID.match(sid):
            continue
        latest: dict[str, Explanation] = {}
        for info in store.list(explanation_prefix(sid)):
            body = json.loads(read_first(store, info.key))  # as first written: a later version is no explanation
            if not body.get("gap"):
                continue
            found = Explanation.model_validate({**body, "key": info.key})
            if found.gap not in latest or found.at > latest[found.gap].at:
                latest[found.gap] = found
        if latest:
            out[sid] = latest
    return out


def store_explanation(store, settings, session: str, finding: str, text: str, by: str) -> Explanation:
    """Write one explanation object; returns what was stored (with its key)."""
    if not _SESSION_ID.match(session):
        raise ValueError(f"not a session id: {session!r}")
    if not _FINDING_ID.match(finding):
        raise ValueError(f"not a finding id: {finding!r} (expected 'opening' or gap-YYYYMMDDTHHMMSS)")
    if not text.strip() or not by.strip():
        raise ValueError("an explanation needs a text and the officer who gives it")
    now = datetime.now(timezone.utc)
    previous = load_explanations(store, [session]).get(session, {}).get(finding)
    written = Explanation(session=session, gap=finding, text=text.strip(), by=by.strip(), at=now,
                          supersedes=previous.key if previous else None, key=explanation_key(session, finding, now))
    until = retain_until(now, None, settings.storage, ingested=now)
    store.put(written.key, written.stored_json(), retain_until=until,
              content_type="application/json", metadata={"session": session, "finding": finding})
    return written
