"""Reading the fields of a camera's on-screen display (OSD) out of recognised text.

Date and time layouts (after Unicode NFKC folding, so full-width ``２０２６／１１：`` read as ASCII):

- ``2026-11-03 09:15:00``, ``2026/11/03 09:15:00``, ``2026.11.03``, ``2026年11月03日``;
- ``20261103 091500`` (compact), with or without the space;
- any of them with a weekday between date and time: ``星期二``, ``周二``, ``TUE``, ``Tuesday``.

Device and officer numbers are read after a label (``设备``/``设备号``/``设备编号``/``机身号``/
``DEVICE``/``DEV``; ``警号``/``警员``/``警员编号``/``OFFICER``/``PID``; both lists configurable),
an optional colon, then letters, digits and dashes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time

__all__ = [
    "OsdFields", "parse_osd", "parse_stamp", "parse_time_of_day", "time_of_day_span", "normalise", "same_id",
    "DEVICE_LABELS", "OFFICER_LABELS",
]

DEVICE_LABELS = ("设备编号", "设备号", "设备", "机身号", "机身编号", "执法仪", "DEVICE ID", "DEVICE NO", "DEVICE", "DEV ID", "DEV")
OFFICER_LABELS = ("警员编号", "警员号", "警号", "警员", "民警", "OFFICER ID", "OFFICER NO", "OFFICER", "POLICE ID", "PID")
_WEEKDAY = r"(?:星期|周|礼拜)[一二三四五六日天]|MON|TUE|WED|THU|FRI|SAT|SUN|[A-Z]{3,5}DAY"
# A separator the recogniser dropped is tolerated between two-digit fields ("2026-1103").
DATED = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?P<s1>[-/.年])?\s*(?P<mo>(?(s1)\d{1,2}|\d{2}))"
    r"\s*(?P<s2>[-/.月])?\s*(?P<d>(?(s2)\d{1,2}|\d{2}))\s*日?"
    r"(?P<mid>[^\d]{0,12}?)"
    r"(?P<h>\d{1,2})\s*(?P<s3>[:时])?\s*(?P<mi>\d{2})\s*(?P<s4>[:分])?\s*(?P<s>\d{2})(?!\d)"
)
COMPACT = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<mo>\d{2})(?P<d>\d{2})(?P<mid>[^\d]{0,12}?)(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?!\d)"
)


@dataclass(frozen=True)
class OsdFields:
    """The fields found in one reading of the display.

    Attributes
    ----------
    stamp : datetime or None
        Wall-clock time on screen, naive (the camera's own zone).
    layout : str or None
        ``"dashed"``, ``"slashed"``, ``"dotted"``, ``"chinese"`` or ``"compact"``.
    weekday : str or None
        The weekday as written, if any.
    device, officer : str or None
        Numbers after their labels.
    """

    stamp: datetime | None = None
    layout: str | None = None
    weekday: str | None = None
    device: str | None = None
    officer: str | None = None


def normalise(text: str) -> str:
    """NFKC-fold ``text`` (full-width forms to ASCII) and upper-case its Latin letters."""
    return unicodedata.normalize("NFKC", text).upper()


def _layout(sep: str) -> str:
    return {"-": "dashed", "/": "slashed", ".": "dotted", "年": "chinese"}.get(sep, "dashed")


def _stamp_match(text: str):
    """The first match of a valid date and time in normalised ``text``, its stamp, layout and weekday."""
    for pattern in (DATED, COMPACT):
        for m in pattern.finditer(text):
            try:
                stamp = datetime(*(int(m[k]) for k in ("y", "mo", "d", "h", "mi", "s")))
            except ValueError:
                continue
            mid = m["mid"].strip()
            if mid and not re.fullmatch(r"[\s,]*(?:" + _WEEKDAY + r")?[\s,]*", mid):
                continue
            if pattern is DATED and not (m["s1"] or m["s2"]) or pattern is DATED and not (m["s3"] or m["s4"]):
                continue  # all separators missing: the compact layout, tried next
            weekday = re.search(_WEEKDAY, mid)
            layout = "compact" if pattern is COMPACT else _layout(m["s1"] or m["s2"])
            return m, stamp, layout, weekday[0] if weekday else None
    return None


def parse_stamp(text: str) -> tuple[datetime | None, str | None, str | None, tuple[int, int] | None]:
    """The first valid date and time in ``text``.

    Returns
    -------
    stamp : datetime or None
    layout : str or None
    weekday : str or None
    span : (start, end) or None
        Where the stamp is in the normalised text.
    """
    found = _stamp_match(normalise(text))
    if found is None:
        return None, None, None, None
    m, stamp, layout, weekday = found
    return stamp, layout, weekday, m.span()


def time_of_day_span(text: str) -> tuple[int, int] | None:
    """Indices in ``text`` of the first stamp's time of day (hour to seconds), or None.

    None also when folding changes the text's length (indices would not carry over).
    """
    folded = normalise(text)
    found = _stamp_match(folded) if len(folded) == len(text) else None
    return (found[0].start("h"), found[0].end("s")) if found else None


TIME_OF_DAY = re.compile(r"(?P<h>\d{1,2})\s*[:时]\s*(?P<mi>\d{2})\s*[:分]\s*(?P<s>\d{2})")


def parse_time_of_day(text: str) -> time | None:
    """The time of day in ``text``, or None.

    ``09:15:07`` (a stray character either side is ignored, as a crop around the time of day
    may catch the edge of its neighbour), else the last six digits (``091507``).
    """
    text = normalise(text)
    m = TIME_OF_DAY.search(text)
    if m is not None:
        parts = (m["h"], m["mi"], m["s"])
    else:
        digits = re.sub(r"\D", "", text)
        if len(digits) < 6:
            return None
        parts = (digits[-6:-4], digits[-4:-2], digits[-2:])
    try:
        return time(*(int(x) for x in parts))
    except ValueError:
        return None


def _labelled(text: str, labels: tuple[str, ...]) -> str | None:
    alternatives = "|".join(re.escape(normalise(x)).replace(r"\ ", r"\s*") for x in sorted(labels, key=len, reverse=True))
    m = re.search(r"(?:" + alternatives + r")\s*(?:NO\.?|#)?\s*[:.]?\s*(?P<v>[A-Z0-9][A-Z0-9-]*[A-Z0-9]|[A-Z0-9])", text)
    return m["v"] if m else None


def parse_osd(
    text: str,
    device_labels: tuple[str, ...] = DEVICE_LABELS,
    officer_labels: tuple[str, ...] = OFFICER_LABELS,
) -> OsdFields:
    """Date/time, weekday, device and officer numbers in the text of a display.

    Parameters
    ----------
    text : str
        All lines of the display, joined by spaces.
    device_labels, officer_labels : tuple of str
        Labels that precede the numbers, longest tried first.
    """
    stamp, layout, weekday, span = parse_stamp(text)
    rest = normalise(text)
    if span:
        rest = rest[: span[0]] + " " + rest[span[1] :]
    return OsdFields(stamp, layout, weekday, _labelled(rest, device_labels), _labelled(rest, officer_labels))


def same_id(a: str | None, b: str | None) -> bool:
    """Whether two device or officer numbers are the same, ignoring case, width and separators."""
    def key(x: str) -> str:
        return re.sub(r"[^0-9A-Z]", "", normalise(x))

    return a is not None and b is not None and key(a) == key(b)
