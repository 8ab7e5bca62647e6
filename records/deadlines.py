"""Article 29 deadlines on China's statutory working-day calendar.

* **Stored by**: footage reaches dedicated storage by the end (23:59:59 Asia/Shanghai) of the
  2nd working day after the day it was made. Working days come from the ``chinese-calendar``
  package, which knows the State Council's holidays *and* the adjusted working weekends (调休).
  For a year it does not know yet the count falls back to Monday-Friday, and every result says
  so (``calendar_known`` is False).
* **Filed by**: a case's records are filed within 30 days of its closing date. Closing dates
  come from a sidecar (a ``case`` field) or ``footage case close ID --date``, stored as an
  immutable object per closing (a later one supersedes).

Recordings are then classified: ``late`` (stored after the deadline), ``overdue`` (still not
stored, deadline passed), ``at_risk`` (not stored, deadline within ``at_risk`` from now) or on
time / pending.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import chinese_calendar

from storage import ObjectStore

from media.timeinfo import from_filename
from records.contract import Contract, IsoTime
from records.keys import CASES, case_key
from records.manifest import Manifest, iter_manifests

# Article 29 counts working days of China's statutory calendar, whatever zone an installation shows
# its times in (settings.time.timezone): this zone is fixed on purpose.
CHINA = "Asia/Shanghai"
STORED_WITHIN_WORKING_DAYS = 2
FILED_WITHIN_DAYS = 30
END_OF_DAY = time(23, 59, 59)


# -- calendar -----------------------------------------------------------------------------------
def is_working_day(day: date) -> tuple[bool, bool]:
    """``(working, known)``: whether ``day`` is a working day on China's statutory calendar, and
    whether the calendar knows its year (if not, Monday-Friday is assumed)."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:  # the package has no data for that year yet
        return day.weekday() < 5, False


def add_working_days(day: date, n: int) -> tuple[date, bool]:
    """The ``n``-th working day after ``day`` (``day`` itself never counts), and whether every day
    looked at was in a year the calendar knows."""
    if n < 1:
        raise ValueError("n must be at least 1")
    known = True
    d = day
    while n:
        d += timedelta(days=1)
        working, k = is_working_day(d)
        known &= k
        n -= working
    return d, known


def end_of_day(day: date, tz: str = CHINA) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=ZoneInfo(tz))


def stored_by(made: datetime, tz: str = CHINA) -> tuple[datetime, bool]:
    """The article 29 "stored by" deadline of footage made at ``made``.

    Parameters
    ----------
    made : datetime
        When the footage was made (timezone-aware).
    tz : str
        The zone whose calendar days count (China's statutory time).

    Returns
    -------
    due : datetime
        23:59:59 local time of the 2nd working day after the local day of ``made``.
    calendar_known : bool
        False when a year outside ``chinese-calendar``'s data was met and Monday-Friday assumed.

    Examples
    --------
    >>> stored_by(datetime(2026, 9, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))[0].isoformat()
    '2026-10-09T23:59:59+08:00'
    """
    if made.tzinfo is None:
        raise ValueError("made must be timezone-aware")
    day = made.astimezone(ZoneInfo(tz)).date()
    due_day, known = add_working_days(day, STORED_WITHIN_WORKING_DAYS)
    return end_of_day(due_day, tz), known


def filed_by(closed: date, tz: str = CHINA) -> datetime:
    """End of the 30th calendar day after a case's closing date."""
    return end_of_day(closed + timedelta(days=FILED_WITHIN_DAYS), tz)


# -- classification -----------------------------------------------------------------------------
class State(str, Enum):
    ON_TIME = "on_time"
    LATE = "late"  # stored after its deadline
    OVERDUE = "overdue"  # not stored, deadline passed
    AT_RISK = "at_risk"  # not stored, deadline close
    PENDING = "pending"  # not stored, deadline not close yet


@dataclass
class Deadline:
    state: State
    due: datetime
    calendar_known: bool
    late_by: timedelta | None = None

    @property
    def flagged(self) -> bool:
        return self.state in (State.LATE, State.OVERDUE, State.AT_RISK)


def classify(
    made: datetime,
    stored: datetime | None,
    now: datetime | None = None,
    *,
    at_risk: timedelta = timedelta(hours=24),
    tz: str = CHINA,
) -> Deadline:
    """Where a recording stands against its "stored by" deadline."""
    due, known = stored_by(made, tz)
    if stored is not None:
        if stored.tzinfo is None:
            raise ValueError("stored must be timezone-aware")
        if stored > due:
            return Deadline(State.LATE, due, known, stored - due)
        return Deadline(State.ON_TIME, due, known)
    now = now or datetime.now(timezone.utc)
    if now > due:
        return Deadline(State.OVERDUE, due, known, now - due)
    if due - now <= at_risk:
        return Deadline(State.AT_RISK, due, known)
    return Deadline(State.PENDING, due, known)


# -- cases --------------------------------------------------------------------------------------
class CaseClosing(Contract):
    """A case's closing as stored (``cases/<case>/closing-<time>.json``), plus ``key``, the object
    it is stored as: when it closed, when its records are due filed, who said so and when. The
    fields are in the order a stored closing reads back (its keys sorted, then ``key``)."""

    at: IsoTime
    by: str
    case: str
    closed: date
    filed_by: IsoTime
    key: str

    def stored_json(self) -> bytes:
        """The stored object (without ``key``, which names it): keys sorted."""
        body = {k: v for k, v in self.to_json_dict().items() if k != "key"}
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()

    def audit_detail(self) -> dict[str, Any]:
        """The ``case_closed`` audit event's detail."""
        return {"case": self.case, "closed": self.closed.isoformat(), "key": self.key}


def close_case(
    store: ObjectStore,
    case_id: str,
    closed: date,
    *,
    user: str,
    audit=None,
    retain_until: datetime | None = None,
) -> CaseClosing:
    """Record a case's closing date as an immutable object; a later closing supersedes."""
    if not case_id.strip():
        raise ValueError("a case id is needed")
    now = datetime.now(timezone.utc)
    closing = CaseClosing(case=case_id, closed=closed, filed_by=filed_by(closed), by=user, at=now,
                          key=case_key(case_id, now))
    store.put(closing.key, closing.stored_json(), retain_until=retain_until, content_type="application/json")
    if audit is not None:
        audit.append("case_closed", user=user, detail=closing.audit_detail())
    return closing


def cases(store: ObjectStore) -> dict[str, CaseClosing]:
    """The latest closing of every case."""
    out: dict[str, CaseClosing] = {}
    for info in store.list(CASES):
        if "/closing-" not in info.key:
            continue
        closing = CaseClosing.model_validate({**json.loads(store.get_bytes(info.key)), "key": info.key})
        cur = out.get(closing.case)
        if cur is None or closing.at > cur.at:
            out[closing.case] = closing
    return out


# -- the deadlines report -----------------------------------------------------------------------
@dataclass
class Item:
    kind: str  # recording | inbox | case
    ref: str  # sha256, file name or case id
    state: str
    due: str
    calendar_known: bool = True
    made: str | None = None
    stored: str | None = None
    device: str | None = None
    officer: str | None = None
    late_by_hours: float | None = None
    note: str = ""

    @property
    def short_ref(self) -> str:
        """A record's sha256 cut to 16 characters; file names and case ids whole."""
        return self.ref[:16] if self.kind == "recording" else self.ref

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeadlineReport:
    """Late and at-risk items found at ``generated``; :mod:`reports.deadlines` renders it."""

    generated: str
    items: list[Item] = field(default_factory=list)
    calendar_known: bool = True

    @property
    def late(self) -> list[Item]:
        return [i for i in self.items if i.state in (State.LATE.value, State.OVERDUE.value)]

    @property
    def at_risk(self) -> list[Item]:
        return [i for i in self.items if i.state == State.AT_RISK.value]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "calendar_known": self.calendar_known,
            "late": len(self.late),
            "at_risk": len(self.at_risk),
            "items": [i.to_dict() for i in self.items],
        }


def _hours(td: timedelta | None) -> float | None:
    return None if td is None else round(td.total_seconds() / 3600, 2)


def _waiting_files(settings) -> Iterator[tuple[Path, str, str]]:
    """(path, folder, original name) of media files not yet in storage."""
    if settings.inbox.is_dir():
        for p in sorted(settings.inbox.rglob("*")):
            # everything ingest will look at: sidecars (JSON) and hidden files are not records
            if p.is_file() and p.suffix.lower() != ".json" and not p.name.startswith("."):
                yield p, "inbox", p.name
    if settings.quarantine.is_dir():
        # ingest renames quarantined files; their reason JSON keeps the original name
        for r in sorted(settings.quarantine.rglob("*.reason.json")):
            try:
                reason = json.loads(r.read_text())
            except ValueError:
                continue
            moved = Path(reason.get("moved_to") or r.with_name(r.name[: -len(".reason.json")]))
            if moved.is_file():
                yield moved, "quarantine", reason.get("original_name") or moved.name


def deadline_report(
    settings,
    store: ObjectStore,
    now: datetime | None = None,
    *,
    since: datetime | None = None,
    at_risk: timedelta = timedelta(hours=24),
    case_warning: timedelta = timedelta(days=7),
) -> DeadlineReport:
    """Late and at-risk items: stored recordings that came late (made at or after ``since``),
    files still waiting in the inbox or quarantine (made time from the file name, else the
    mtime, both estimates), and cases whose filing deadline is near or was missed."""
    tz = settings.time.timezone
    now = now or datetime.now(timezone.utc)
    report = DeadlineReport(generated=now.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds"))
    by_case: dict[str, list[Manifest]] = {}
    for m in iter_manifests(store):
        if m.case_id:
            by_case.setdefault(m.case_id, []).append(m)
        if since is not None and m.made < since:
            continue
        d = classify(m.made, m.stored_at, now, at_risk=at_risk)
        report.calendar_known &= d.calendar_known
        if d.flagged:
            rec = m.recording
            report.items.append(
                Item("recording", m.sha256, d.state.value, d.due.isoformat(), d.calendar_known,
                     m.made.isoformat(timespec="seconds"), (m.stored_at or now).isoformat(timespec="seconds"),
                     rec.device_id, rec.officer_id, _hours(d.late_by), rec.name)
            )
    zone = ZoneInfo(tz)
    for path, where, original in _waiting_files(settings):
        parsed = from_filename(original, settings.time.filename_patterns, zone)
        if parsed:
            made, how = parsed["start"], "made from file name"
        else:
            made, how = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), "made from mtime (weak)"
        d = classify(made, None, now, at_risk=at_risk)
        report.calendar_known &= d.calendar_known
        if d.flagged:
            report.items.append(
                Item(where, original, d.state.value, d.due.isoformat(), d.calendar_known,
                     made.isoformat(timespec="seconds"), None, (parsed or {}).get("device"),
                     (parsed or {}).get("officer"), _hours(d.late_by), f"{how}; still in {where}/")
            )
    for case_id, c in sorted(cases(store).items()):
        due = c.filed_by
        linked = by_case.get(case_id, [])
        late = [m for m in linked if (m.stored_at or now) > due]
        if late:
            report.items.append(
                Item("case", case_id, State.LATE.value, due.isoformat(), True, None, None, None, None,
                     _hours(max(m.stored_at or now for m in late) - due),
                     f"{len(late)} of {len(linked)} recordings stored after the filing deadline")
            )
        elif timedelta(0) <= due - now <= case_warning:
            report.items.append(
                Item("case", case_id, State.AT_RISK.value, due.isoformat(), True, note=f"closed {c.closed.isoformat()}; "
                     f"{len(linked)} recordings filed so far")
            )
    order = {State.OVERDUE.value: 0, State.LATE.value: 1, State.AT_RISK.value: 2}
    report.items.sort(key=lambda i: (order.get(i.state, 9), i.due, i.ref))
    return report

