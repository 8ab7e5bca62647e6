"""How reports show instants to people: in the configured zone (``settings.time.timezone``),
never in the UTC the records store."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["DATETIME", "CLOCK", "local_time"]

DATETIME = "%Y-%m-%d %H:%M:%S"
CLOCK = "%H:%M:%S"


def local_time(value: str | datetime | None, tz: str | ZoneInfo, fmt: str = DATETIME) -> str:
    """An instant as text in ``tz``.

    Parameters
    ----------
    value : str, datetime or None
        An ISO 8601 string with an offset, or an aware datetime; None gives an empty string.
    tz : str or ZoneInfo
        The zone to show it in.
    fmt : str
        :meth:`datetime.strftime` format: :data:`DATETIME` (the default) or :data:`CLOCK`.

    Examples
    --------
    >>> local_time("2026-10-09T15:59:59+00:00", "Asia/Shanghai")
    '2026-10-09 23:59:59'
    >>> local_time("2026-10-09T15:59:59+00:00", "Asia/Shanghai", CLOCK)
    '23:59:59'
    """
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)).strftime(fmt)
