"""Device markers: container chapters and marking tags, listed as ``marker`` events.

Some body cameras mark an important moment (a button press) as a chapter, others as a metadata
tag carrying a time. Chapters become markers with their start and end; a container or stream tag
whose name looks like a mark (``MARKER_TAG``) becomes a marker at each time its value holds
(``12.5``, ``00:01:02.5``, several separated by commas or semicolons), or a marker without a time
when its value holds none.
"""

from __future__ import annotations

import re

import av

from media.model import Event

#: Tag names that cameras use for marks (matched case-insensitively against the whole name).
MARKER_TAG = re.compile(r"(?i).*(mark|highlight|important|bookmark|key_?moment|event_?time).*")
_TIME = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)\s*$")


def parse_offset(text: str) -> float | None:
    """Seconds in ``12.5``, ``01:02.5`` or ``00:01:02.5``; None if it is not such a time.

    Examples
    --------
    >>> parse_offset("00:01:02.5")
    62.5
    >>> parse_offset("officer pressed") is None
    True
    """
    m = _TIME.match(text)
    if not m:
        return None
    first, second, sec = m.groups()
    hours, minutes = (first, second) if second is not None else (None, first)
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(sec)


def chapter_markers(chapters: list[dict], origin: float = 0.0) -> list[Event]:
    """Marker events from PyAV's ``container.chapters()`` (start/end in their time base)."""
    events = []
    for ch in chapters:
        tb = ch["time_base"]
        meta = dict(ch.get("metadata") or {})
        events.append(
            Event(
                kind="marker",
                start=round(float(ch["start"] * tb) - origin, 3),
                end=round(float(ch["end"] * tb) - origin, 3),
                detail={"detector": "chapters", "source": "chapter", "id": ch.get("id"),
                        "title": meta.get("title") or meta.get("TITLE"), "metadata": meta},
            )
        )
    return events


def tag_markers(tags: dict[str, str], where: str = "container") -> list[Event]:
    """Marker events from metadata tags whose names look like marks."""
    events = []
    for key, value in tags.items():
        if not MARKER_TAG.fullmatch(key):
            continue
        times = [parse_offset(part) for part in re.split(r"[;,]", value)]
        detail = {"detector": "tags", "source": where, "tag": key, "value": value}
        if times and all(t is not None for t in times):
            events += [Event(kind="marker", start=t, end=t, detail=detail) for t in times]
        else:
            events.append(Event(kind="marker", detail=detail))
    return events


def markers(container: av.container.InputContainer, origin: float = 0.0) -> list[Event]:
    """All device markers of an open container: chapters, then marking tags."""
    events = chapter_markers(container.chapters(), origin)
    events += tag_markers(dict(container.metadata))
    for stream in container.streams:
        events += tag_markers(dict(stream.metadata), f"stream {stream.index}")
    return events
