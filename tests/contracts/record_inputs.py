"""Fixed inputs of the small records' contract tests: users, and a clock that ticks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

#: ann: a key; bo: no key; cy: a key that is not one; zed: not configured at all
USERS = {
    "ann": {"roles": ["archivist", "supervisor"],
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4 ann@footage"},
    "bo": {"roles": ["operator"]},
    "cy": {"roles": ["auditor"], "public_key": "ssh-ed25519 AAAA-not-a-key"},
}
START = datetime(2026, 11, 28, 8, 0, 0, 123456, tzinfo=timezone.utc)


def frozen_clock(start: datetime = START, step: timedelta = timedelta(seconds=1, microseconds=1)):
    """A ``datetime`` class whose ``now`` starts at ``start`` and moves ``step`` at each call."""
    calls = [0]

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            t = start + step * calls[0]
            calls[0] += 1
            return t if tz is None else t.astimezone(tz)

    return Clock


def close_cases(close_case, store) -> tuple[list, list]:
    """Three closings (two of one case, one of a case with a Chinese name) by ``close_case``;
    returns what it returned and the audit events it appended."""
    from datetime import date

    events: list = []

    class Audit:
        def append(self, kind, user, detail):
            events.append([kind, user, detail])

    done = [close_case(store, "C-2026-017", date(2026, 10, 1), user="li", audit=Audit()),
            close_case(store, "C-2026-017", date(2026, 10, 8), user="li"),
            close_case(store, "案件 9", date(2026, 12, 30), user="王")]
    return done, events
