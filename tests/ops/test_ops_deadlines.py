"""Article 29 deadlines on China's statutory calendar, 2025 and 2026 holidays included.

Expected dates are taken from the State Council's holiday notices (国务院办公厅关于2025年/2026年
部分节假日安排的通知), not recomputed with the library under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from records.deadlines import State, add_working_days, classify, filed_by, is_working_day, stored_by

CN = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    "made, due",
    [
        # the two examples the rules' owners gave
        ("2026-09-30T10:00:00+08:00", "2026-10-09"),  # National Day 1-7 Oct + Mid-Autumn
        ("2026-02-13T09:00:00+08:00", "2026-02-24"),  # Sat 14 Feb works, Spring Festival 15-23 Feb
        # 2026
        ("2025-12-31T12:00:00+08:00", "2026-01-05"),  # New Year 1-3 Jan, Sun 4 Jan works
        ("2026-02-12T12:00:00+08:00", "2026-02-14"),  # Fri 13, then the working Saturday
        ("2026-02-27T12:00:00+08:00", "2026-03-02"),  # Sat 28 Feb works
        ("2026-04-30T12:00:00+08:00", "2026-05-07"),  # Labour Day 1-5 May
        ("2026-05-08T12:00:00+08:00", "2026-05-11"),  # Sat 9 May works
        ("2026-10-09T12:00:00+08:00", "2026-10-12"),  # Sat 10 Oct works
        ("2026-06-18T12:00:00+08:00", "2026-06-23"),  # Dragon Boat 19-21 Jun
        ("2026-11-06T12:00:00+08:00", "2026-11-10"),  # an ordinary weekend
        # 2025
        ("2025-01-24T12:00:00+08:00", "2025-01-27"),  # Sun 26 Jan works before Spring Festival
        ("2025-01-27T12:00:00+08:00", "2025-02-06"),  # Spring Festival 28 Jan - 4 Feb
        ("2025-04-25T12:00:00+08:00", "2025-04-28"),  # Sun 27 Apr works
        ("2025-04-30T12:00:00+08:00", "2025-05-07"),  # Labour Day 1-5 May
        ("2025-09-30T12:00:00+08:00", "2025-10-10"),  # National Day + Mid-Autumn 1-8 Oct
        ("2025-10-10T12:00:00+08:00", "2025-10-13"),  # Sat 11 Oct works
        ("2025-12-30T12:00:00+08:00", "2026-01-04"),  # across the year: 31 Dec, then Sun 4 Jan works
    ],
)
def test_stored_by_on_the_statutory_calendar(made, due):
    deadline, known = stored_by(datetime.fromisoformat(made))
    assert known
    assert deadline.isoformat() == f"{due}T23:59:59+08:00"


def test_the_day_is_chinas_day_whatever_the_offset_of_made():
    # 2026-09-29 16:30 UTC is already 30 Sep in Beijing: due 9 Oct, not 8 Oct
    late_evening_utc = datetime(2026, 9, 29, 16, 30, tzinfo=timezone.utc)
    assert stored_by(late_evening_utc)[0].isoformat() == "2026-10-09T23:59:59+08:00"
    still_29th = datetime(2026, 9, 29, 15, 59, tzinfo=timezone.utc)
    assert stored_by(still_29th)[0].isoformat() == "2026-10-08T23:59:59+08:00"


def test_naive_made_is_refused():
    with pytest.raises(ValueError):
        stored_by(datetime(2026, 1, 1, 12))


def test_unknown_year_falls_back_to_monday_to_friday_and_says_so():
    due, known = stored_by(datetime(2031, 3, 7, 12, tzinfo=CN))  # Friday
    assert not known
    assert due.isoformat() == "2031-03-11T23:59:59+08:00"  # Mon 10, Tue 11
    # a deadline that only crosses into an unknown year is flagged too
    due, known = stored_by(datetime(2026, 12, 30, 12, tzinfo=CN))
    assert not known and due.date() == date(2027, 1, 1)
    assert is_working_day(date(2031, 3, 8)) == (False, False)


def test_adjusted_working_weekend_is_a_working_day():
    assert is_working_day(date(2026, 2, 14)) == (True, True)
    assert is_working_day(date(2026, 10, 1)) == (False, True)
    assert add_working_days(date(2026, 2, 13), 1) == (date(2026, 2, 14), True)


def test_filed_by_is_thirty_days_after_closing():
    assert filed_by(date(2026, 1, 10)).isoformat() == "2026-02-09T23:59:59+08:00"
    assert filed_by(date(2026, 9, 30)).isoformat() == "2026-10-30T23:59:59+08:00"


def test_classification():
    made = datetime(2026, 9, 30, 10, tzinfo=CN)
    due = datetime(2026, 10, 9, 23, 59, 59, tzinfo=CN)
    assert classify(made, due).state is State.ON_TIME
    late = classify(made, due + timedelta(hours=5))
    assert late.state is State.LATE and late.late_by == timedelta(hours=5)
    assert classify(made, None, now=due + timedelta(seconds=1)).state is State.OVERDUE
    assert classify(made, None, now=due - timedelta(hours=3)).state is State.AT_RISK
    assert classify(made, None, now=due - timedelta(days=3)).state is State.PENDING
