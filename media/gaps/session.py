"""Session rules on spoken statements: the opening statement and explained interruptions.

Plain functions on the recordings of a session, its gaps and the speech segments found in each
recording (seconds from that recording's start, as :func:`media.gaps.qc.analyse` gives them).
Speech is put on the session clock (seconds from the start of the session's first recording)
before it is judged, so a statement that runs on into the next file still counts.

- Article 20 (第二十条): speech starts within ``opening_within`` (30 s) of the session's start and
  totals ``opening_min_speech`` (5 s) within its first ``opening_window`` (60 s).
- Article 21 (第二十一条): after every interruption (a between-file gap, or an in-file stop: a
  timestamp jump or frame drop of ``stop_min_duration`` or more), speech within
  ``resume_within`` (30 s) of the resume.

A finding whose id has a written explanation attached is not flagged. Ids: ``opening`` for the
opening statement; for an interruption the :attr:`media.model.Gap.id` of a gap, and the same form
(``gap-`` and the resume instant) for an in-file stop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from media.gaps.settings import GapSettings
from media.gaps.speech import Window, merge_segments, total_within
from media.model import Event, Gap, Recording, Session

Segments = Sequence[tuple[float, float]]
OPENING_ID = "opening"
#: In-file event kinds that stop the recording (from the packet scan and from our decode pass).
STOP_KINDS = ("discontinuity", "dropped_frames")


@dataclass(frozen=True)
class Resume:
    """A point where recording resumed after an interruption."""

    id: str
    at: datetime  # the resume instant
    file: str  # the recording that resumes
    device: str
    offset: float  # seconds from the start of ``file``
    seconds: float  # how long the interruption lasted
    cause: str  # "gap" or the in-file event kind


def resume_id(at: datetime) -> str:
    """The id of an interruption that ended at ``at`` (as :attr:`media.model.Gap.id`)."""
    return "gap-" + at.strftime("%Y%m%dT%H%M%S")


def _ordered(recordings: Iterable[Recording]) -> list[Recording]:
    return sorted(recordings, key=lambda r: r.start)


def _find(recordings: Sequence[Recording], ref: str) -> Recording | None:
    return next((r for r in recordings if ref in (r.path, r.name)), None)


def _speech_of(speech: Mapping[str, Segments], rec: Recording) -> Segments:
    return speech.get(rec.path) or speech.get(rec.name) or ()


def session_speech(
    recordings: Sequence[Recording], speech: Mapping[str, Segments], settings: GapSettings | None = None
) -> list[tuple[float, float]]:
    """Speech of all recordings on the session clock, merged across short pauses.

    Parameters
    ----------
    recordings : sequence of Recording
    speech : mapping of path or name -> sequence of (start, end)
        Seconds from the start of that recording.

    Returns
    -------
    list of (start, end)
        Seconds from the start of the earliest recording.
    """
    s = settings or GapSettings()
    recs = _ordered(recordings)
    if not recs:
        return []
    t0 = recs[0].start
    shifted = [
        (a + (r.start - t0).total_seconds(), b + (r.start - t0).total_seconds())
        for r in recs
        for a, b in _speech_of(speech, r)
    ]
    return merge_segments(shifted, s.speech_merge_gap)


def check_opening_statement(
    recordings: Sequence[Recording],
    speech: Mapping[str, Segments],
    settings: GapSettings | None = None,
    explained: Collection[str] = (),
) -> list[Event]:
    """Article 20: the opening statement at the start of the session.

    Returns
    -------
    list of Event
        One ``missing_opening_statement`` event (start/end on the first recording) when speech
        does not start within ``opening_within`` or totals less than ``opening_min_speech`` in
        the first ``opening_window`` seconds, unless ``"opening"`` is in ``explained``.
    """
    s = settings or GapSettings()
    recs = _ordered(recordings)
    if not recs or OPENING_ID in explained:
        return []
    segs = session_speech(recs, speech, s)
    first = next((a for a, b in segs if b > 0), None)
    total = total_within(segs, 0.0, s.opening_window)
    starts_in_time = first is not None and first <= s.opening_within
    if starts_in_time and total >= s.opening_min_speech:
        return []
    reason = (
        f"no speech within {s.opening_within:g} s" if not starts_in_time
        else f"{total:.1f} s of speech in the first {s.opening_window:g} s, under {s.opening_min_speech:g} s"
    )
    rec = recs[0]
    end = min(s.opening_window, rec.duration)
    return [
        Event(
            kind="missing_opening_statement",
            file=rec.path,
            device=rec.device_id,
            start=0.0,
            end=round(end, 3),
            at=rec.start,
            until=rec.start + timedelta(seconds=end),
            rule=s.rule("missing_opening_statement"),
            detail={
                "id": OPENING_ID,
                "reason": reason,
                "first_speech": None if first is None else round(first, 3),
                "speech_seconds": round(total, 3),
                "within": s.opening_within,
                "window": s.opening_window,
                "min_speech": s.opening_min_speech,
            },
        )
    ]


def resumes(
    recordings: Sequence[Recording],
    gaps: Sequence[Gap] = (),
    settings: GapSettings | None = None,
    file_events: Mapping[str, Sequence[Event]] | None = None,
) -> list[Resume]:
    """Every resume after an interruption: after each gap and each in-file stop.

    Parameters
    ----------
    recordings : sequence of Recording
    gaps : sequence of Gap
        Between-file gaps (already above the chaining tolerance).
    file_events : mapping of path or name -> events, optional
        In-file events besides ``recording.events`` (for example :class:`QCResult` events);
        ``discontinuity`` and ``dropped_frames`` events lasting ``stop_min_duration`` or more
        are stops.
    """
    s = settings or GapSettings()
    recs = _ordered(recordings)
    found: dict[str, Resume] = {}
    for gap in gaps:
        rec = _find(recs, gap.after)
        found[gap.id] = Resume(
            id=gap.id, at=gap.end, file=rec.path if rec else gap.after, device=gap.device,
            offset=0.0 if rec is None else max(0.0, (gap.end - rec.start).total_seconds()),
            seconds=gap.seconds, cause="gap",
        )
    for rec in recs:
        events = list(rec.events)
        if file_events:
            events += list(file_events.get(rec.path) or file_events.get(rec.name) or ())
        for e in events:
            if e.kind not in STOP_KINDS or e.start is None or e.end is None:
                continue
            if e.end - e.start < s.stop_min_duration:
                continue
            at = rec.start + timedelta(seconds=e.end)
            rid = resume_id(at)
            found.setdefault(rid, Resume(rid, at, rec.path, rec.device_id, e.end, e.end - e.start, e.kind))
    return sorted(found.values(), key=lambda r: r.at)


def listening_windows(
    recordings: Sequence[Recording], gaps: Sequence[Gap] = (), settings: GapSettings | None = None
) -> dict[str, list[Window]]:
    """Where the rules will read speech, per recording, as known before the decode pass.

    The opening window (the first ``opening_window`` seconds of the session) and a window of
    ``resume_within`` seconds after each resume known from the session: its between-file gaps
    and the in-file stops of the packet scan (``recording.events``). Windows are on the session
    clock and land on every recording they overlap (a statement may run on into the next file).
    Stops found only in the decode pass open their windows there
    (:class:`media.gaps.speech.Listening`).

    Returns
    -------
    dict of path -> list of Window
        Seconds from the start of that recording; every recording of the session has an entry,
        possibly empty (a continuation nobody reads speech in).
    """
    s = settings or GapSettings()
    recs = _ordered(recordings)
    out: dict[str, list[Window]] = {r.path: [] for r in recs}
    if not recs:
        return out
    t0 = recs[0].start
    wanted = [(0.0, s.opening_window, "opening", OPENING_ID)]
    for r in resumes(recs, gaps, s):
        at = (r.at - t0).total_seconds()
        wanted.append((at, at + s.resume_within, "resume", r.id))
    for rec in recs:
        offset = (rec.start - t0).total_seconds()
        length = rec.duration or float("inf")  # unknown: the decode pass finds the end
        for start, end, reason, wid in wanted:
            a, b = max(start - offset, 0.0), min(end - offset, length)
            if b > a:
                out[rec.path].append(Window(round(a, 3), round(b, 3), reason, wid))
    return out


def check_interruptions(
    recordings: Sequence[Recording],
    gaps: Sequence[Gap],
    speech: Mapping[str, Segments],
    settings: GapSettings | None = None,
    explained: Collection[str] = (),
    file_events: Mapping[str, Sequence[Event]] | None = None,
) -> list[Event]:
    """Article 21: speech within ``resume_within`` seconds of every resume.

    Returns
    -------
    list of Event
        One ``unexplained_interruption`` per resume without speech in time and without a
        written explanation (its id in ``explained``). ``start``/``end`` are seconds in the
        resuming file; ``at`` is the resume instant.
    """
    s = settings or GapSettings()
    recs = _ordered(recordings)
    if not recs:
        return []
    t0 = recs[0].start
    segs = session_speech(recs, speech, s)
    events = []
    for r in resumes(recs, gaps, s, file_events):
        if r.id in explained:
            continue
        at = (r.at - t0).total_seconds()
        heard = total_within(segs, at, at + s.resume_within)
        if heard > 0:
            continue
        events.append(
            Event(
                kind="unexplained_interruption",
                file=r.file,
                device=r.device,
                start=round(r.offset, 3),
                end=round(r.offset + s.resume_within, 3),
                at=r.at,
                until=r.at + timedelta(seconds=s.resume_within),
                rule=s.rule("unexplained_interruption"),
                detail={"id": r.id, "cause": r.cause, "interruption_seconds": round(r.seconds, 3),
                        "within": s.resume_within},
            )
        )
    return events


def check_session(
    session: Session,
    speech: Mapping[str, Segments],
    settings: GapSettings | None = None,
    explained: Collection[str] = (),
    file_events: Mapping[str, Sequence[Event]] | None = None,
) -> list[Event]:
    """Both rules on one session (opening statement, then interruptions)."""
    return check_opening_statement(session.recordings, speech, settings, explained) + check_interruptions(
        session.recordings, session.gaps, speech, settings, explained, file_events
    )
