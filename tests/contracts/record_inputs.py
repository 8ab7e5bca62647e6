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
