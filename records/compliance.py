"""The monthly compliance assessment (article 33) and the deadlines artifact.

Per officer and per device: recordings, hours, sessions, unexplained interruptions, missing
opening statements, late uploads (article 29), quarantined files and disclosures, read from the
per-recording manifests in the store, the ingest run reports and the audit log. The report is
written in zh-CN and en, as Markdown and as self-contained HTML with PNG charts, kept in
``reports/compliance/<month>/`` and in the store, and published as a Prefect artifact.

Where the counts come from (the contract with the other flows):

* recordings, hours, officer, device: ``manifests/<sha256>.json`` (``start``, ``duration``,
  ``device_id``, ``officer_id``), counted in the month the recording was *made* (China time);
* sessions: the manifest's ``session`` id when present, else recordings of one device split by
  ``segment.session_break_s``;
* unexplained interruptions / missing opening statements: the manifest's ``findings`` (the rows
  of the session's gap report that concern the recording, written by the ingest flow) of kind
  ``unexplained_interruption`` / ``missing_opening_statement`` that have no written
  explanation, neither when the record was stored nor since (``explanations/`` in the store);
* late uploads: stored (``ingested_at``) after the article 29 deadline (:mod:`records.deadlines`);
* quarantined: ``quarantined`` entries of ``reports/<YYYY-MM-DD>/ingest.json`` and
  ``quarantined`` audit events (``detail.file``), one per file name, attributed through the
  file-name patterns;
* disclosures: ``released`` or ``disclosure_released`` audit events, attributed through the
  record's manifest.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storage import ObjectStore

from media.timeinfo import from_filename
from records.audit import open_audit
from records.keys import REPORTS
from records.roles import mode_banner
from records.deadlines import State, classify
from records.explanations import load_explanations
from records.identity import ProofCheck
from records.manifest import Manifest, iter_manifests

UNKNOWN = "unknown"
INTERRUPTION = "unexplained_interruption"
OPENING = "missing_opening_statement"
DISCLOSURE_KINDS = ("released", "disclosure_released")  # the disclosure flow prefixes its kinds
LANGS = ("zh-CN", "en")


@dataclass
class Row:
    recordings: int = 0
    hours: float = 0.0
    sessions: int = 0
    unexplained_interruptions: int = 0
    missing_opening_statements: int = 0
    late_uploads: int = 0
    quarantined: int = 0
    disclosures: int = 0

    def add(self, other: "Row") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of ``YYYY-MM`` in zone ``tz``."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    y, mo = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(tz)
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: datetime | None = None, tz: str = "Asia/Shanghai") -> str:
    now = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz))
    first = now.date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


# -- gathering ----------------------------------------------------------------------------------
@dataclass
class ComplianceData:
    month: str
    generated: str
    officers: dict[str, Row] = field(default_factory=dict)
    devices: dict[str, Row] = field(default_factory=dict)
    total: Row = field(default_factory=Row)
    calendar_known: bool = True
    manifests: int = 0
    ingest_reports: int = 0
    audit: dict[str, Any] = field(default_factory=dict)
    banner: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("officers", "devices"):
            d[k] = {name: asdict(r) for name, r in sorted(getattr(self, k).items())}
        return d


def _sessions(recs: list[Manifest], session_break: timedelta) -> dict[str, str]:
    """sha256 -> session id, per device: the manifest's own id, else split at long breaks."""
    out: dict[str, str] = {}
    by_device: dict[str, list[Manifest]] = {}
    for m in recs:
        if m.session:
            out[m.sha256] = m.session
        else:
            by_device.setdefault(m.recording.device_id or UNKNOWN, []).append(m)
    for device, items in by_device.items():
        items.sort(key=lambda m: m.made)
        sid, end = None, None
        for m in items:
            if sid is None or m.made - end > session_break:
                sid = f"{device}-{m.made:%Y%m%dT%H%M%S}"
                end = m.made
            end = max(end, m.recording.end)
            out[m.sha256] = sid
    return out


def _explained(store: ObjectStore, recs: list[Manifest]) -> dict[str, set[str]]:
    """session id -> ids of its findings explained in writing (``explanations/``); ids such as
    ``opening`` are only unique within a session."""
    explanations = load_explanations(store, sorted({m.session for m in recs if m.session}))
    return {session: set(by_finding) for session, by_finding in explanations.items()}


def _ingest_reports(settings, store: ObjectStore, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Ingest run reports dated inside the month: on disk under ``reports/`` and in the store."""
    first, last = start.date(), (end - timedelta(seconds=1)).date()
    found: dict[str, dict[str, Any]] = {}
    dated = re.compile(r"(\d{4}-\d{2}-\d{2})")

    def in_month(text: str) -> bool:
        m = dated.search(text)
        return bool(m) and first <= date.fromisoformat(m.group(1)) <= last

    if settings.reports.is_dir():
        for p in sorted(settings.reports.glob("*/ingest*.json")):
            if in_month(p.parent.name):
                try:
                    found[str(p)] = json.loads(p.read_text())
                except ValueError:
                    pass
    for info in store.list(REPORTS):
        if re.search(r"/ingest[^/]*\.json$", info.key) and in_month(info.key):
            try:
                found[info.key] = json.loads(store.get_bytes(info.key))
            except ValueError:
                pass
    return list(found.values())


def gather(
    settings,
    store: ObjectStore,
    month: str,
    *,
    audit=None,
    now: datetime | None = None,
    user: str | None = None,
) -> ComplianceData:
    """Count everything the report shows (see the module docstring for the sources)."""
    tz = settings.time.timezone
    zone = ZoneInfo(tz)
    start, end = month_bounds(month, tz)
    now = now or datetime.now(timezone.utc)
    audit = audit if audit is not None else open_audit(settings, store)
    data = ComplianceData(month=month, generated=now.astimezone(zone).isoformat(timespec="seconds"))
    for lang in LANGS:
        b = mode_banner(settings, user, lang)
        if b:
            data.banner[lang] = b

    def row(table: dict[str, Row], name: str | None) -> Row:
        return table.setdefault(name or UNKNOWN, Row())

    everything = {m.sha256: m for m in iter_manifests(store)}
    month_recs = [m for m in everything.values() if start <= m.made < end]
    data.manifests = len(month_recs)
    session_of = _sessions(month_recs, settings.session_break)
    explained = _explained(store, month_recs)
    officer_sessions: dict[str, set[str]] = {}
    device_sessions: dict[str, set[str]] = {}
    for m in month_recs:
        r = Row(recordings=1, hours=m.recording.duration / 3600.0)
        mine = explained.get(m.session or "", set())
        r.unexplained_interruptions = m.open_findings(INTERRUPTION, mine)
        r.missing_opening_statements = m.open_findings(OPENING, mine)
        d = classify(m.made, m.stored_at or now, now, tz=tz)
        data.calendar_known &= d.calendar_known
        r.late_uploads = int(d.state is State.LATE)
        officer, device = m.recording.officer_id or UNKNOWN, m.recording.device_id or UNKNOWN
        row(data.officers, officer).add(r)
        row(data.devices, device).add(r)
        data.total.add(r)
        officer_sessions.setdefault(officer, set()).add(session_of[m.sha256])
        device_sessions.setdefault(device, set()).add(session_of[m.sha256])
    for name, s in officer_sessions.items():
        data.officers[name].sessions = len(s)
    for name, s in device_sessions.items():
        data.devices[name].sessions = len(s)
    data.total.sessions = len(set(session_of.values()))

    # quarantined files: ingest reports of the month, plus audit events; one per file name
    quarantined: set[str] = set()
    reports = _ingest_reports(settings, store, start, end)
    data.ingest_reports = len(reports)
    for rep in reports:
        for q in rep.get("quarantined") or []:
            name = q.get("file") if isinstance(q, dict) else str(q)
            if name:
                quarantined.add(Path(name).name)
    month_events = [e for e in audit.events(since=start) if datetime.fromisoformat(e["at"]) < end]
    for e in month_events:
        if e["kind"] == "quarantined" and (e.get("detail") or {}).get("file"):
            quarantined.add(Path(e["detail"]["file"]).name)
    for name in sorted(quarantined):
        who = from_filename(name, settings.time.filename_patterns, zone) or {}
        for table, key in ((data.officers, who.get("officer")), (data.devices, who.get("device"))):
            row(table, key).quarantined += 1
        data.total.quarantined += 1

    for e in month_events:
        if e["kind"] in DISCLOSURE_KINDS:
            m = everything.get(e.get("record") or "")
            row(data.officers, m.recording.officer_id if m else None).disclosures += 1
            row(data.devices, m.recording.device_id if m else None).disclosures += 1
            data.total.disclosures += 1

    v = audit.verify(check=ProofCheck())
    data.audit = {"ok": v.ok, "events": v.events, "segments": v.segments, "head": v.head,
                  "broken": str(v.broken) if v.broken else None}
    return data
