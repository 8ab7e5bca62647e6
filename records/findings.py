"""Findings of sessions: the gap-check document (the ``footage gaps check --json`` contract) built
from the one decode pass per recording and the session rules; :mod:`reports.gaps` renders it.

The document (``footage gaps check --json`` prints it; ``gaps.json`` holds one session's part):

``{"sessions": [SESSION...], "events": [EVENT...], "errors": [{"file", "reason"}]}``

EVENT always has ``kind``, ``file``, ``device``, ``start``, ``end``, ``at``, ``until``,
``rule``, ``detail``, ``session`` and, where it concerns an explainable finding, ``id`` and
``explanation`` (null or ``{text, by, at, key}``). ``kind`` is one of ``gap``, ``overlap``,
``discontinuity``, ``dropped_frames``, ``black``, ``freeze``, ``silence``, ``no_audio``,
``audio_dropout``, ``duration_mismatch``, ``speech``, ``speech_window``, ``marker``,
``missing_opening_statement``, ``unexplained_interruption`` (and the foundation's
``clock_disagreement``/``weak_start_time``). ``speech_window`` (with ``gaps.speech_scope =
"rules"``) is a stretch the voice activity detection listened in, ``detail.reason`` ``opening`` or
``resume``: outside those, no ``speech`` event means "not listened", not "silent".
``start``/``end`` are seconds from the start of ``file``, except for ``gap``: seconds on the
session clock (from the start of the session's first recording), with ``at``/``until`` the
absolute ISO times; ``file`` of a gap is the recording that resumed. SESSION is
:meth:`media.model.Session.summary` plus ``findings`` (count of flagged events) and
``explained`` (ids with a written explanation).

:func:`gaps_for_sessions` runs the whole thing (one decode pass per recording, then the session
rules) for ``footage gaps check``; the ingest flow decodes each file in its own task and calls
:func:`document` on the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from media.gaps.qc import QCResult, analyse
from media.gaps.session import check_session, listening_windows
from media.gaps.settings import GapSettings
from media.model import Event, Recording, Session
from media.probe import MediaError
from media.segment import segment
from records.explanations import load_explanations
from records.intake import recording_from_file

#: kinds listed for information, not flagged as findings
INFO_KINDS = {"speech", "speech_window", "marker"}


def is_finding(row: Mapping[str, Any]) -> bool:
    """A row that is flagged by the rules (a gap is listed as a gap, not as a finding)."""
    return row["kind"] not in INFO_KINDS and row["kind"] != "gap"


def open_findings(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings of a document that have no written explanation."""
    return [e for e in doc["events"] if is_finding(e) and not e.get("explanation")]


def findings_of(doc: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    """The findings (explained or not) of a document that concern the recording at ``path``."""
    return [e for e in doc["events"] if is_finding(e) and e.get("file") == path]


def _row(e: Event, session: Session, explanations: Mapping[str, dict]) -> dict[str, Any]:
    row = e.model_dump(mode="json")
    row["session"] = session.id
    row["device"] = row.get("device") or session.device
    eid = e.detail.get("id")
    if eid is not None:
        row["id"] = eid
        row["explanation"] = explanations.get(eid)
    return row


def session_events(
    session: Session,
    qc: Mapping[str, QCResult],
    settings: GapSettings,
    explanations: Mapping[str, dict] | None = None,
) -> list[dict[str, Any]]:
    """Every event of one session as contract rows, flagged ones not explained."""
    explanations = explanations or {}
    rows: list[dict[str, Any]] = []
    t0 = session.start
    # the cameras' own clocks (burned-in OSD) measure each gap a second time, where they were read
    readings = {path: r.osd for path, r in qc.items() if getattr(r, "osd", None) is not None}
    osd_gaps = {}
    if readings:
        # here, not at the top: the display reader's imports (the OCR and redaction stacks, scipy)
        # would cost every Dask worker and every run about a second when the display is not read.
        # Measured (2 shared cores): `python -X importtime -c "import records.findings; import
        # media.text.checks"` gives media.text.checks 0.8 to 1.6 s cumulative, 0.44 s of CPU.
        from media.text.checks import session_osd_gaps

        osd_gaps = session_osd_gaps(session, readings, settings.osd)
    for gap in session.gaps:
        after = next((r for r in session.recordings if gap.after in (r.name, r.path)), None)
        e = Event(
            kind="gap", file=after.path if after else gap.after, device=gap.device,
            start=round((gap.start - t0).total_seconds(), 3), end=round((gap.end - t0).total_seconds(), 3),
            at=gap.start, until=gap.end, rule=settings.rule("gap"),
            detail={"id": gap.id, "seconds": round(gap.seconds, 3), "before": gap.before, "after": gap.after,
                    "detector": "segment", **({"osd_seconds": osd_gaps[gap.id]} if osd_gaps.get(gap.id) is not None else {})},
        )
        rows.append(_row(e, session, explanations))
    for e in session.events:
        rows.append(_row(e, session, explanations))
    file_events: dict[str, list[Event]] = {}
    for rec in session.recordings:
        rows += [_row(e.model_copy(update={"file": e.file or rec.path}), session, explanations) for e in rec.events]
        result = qc.get(rec.path)
        if result is None:
            continue
        file_events[rec.path] = result.events
        for e in result.events:
            e = e.model_copy(update={"file": rec.path, "device": rec.device_id})
            if e.start is not None:
                e.at = rec.start + timedelta(seconds=e.start)
                e.until = rec.start + timedelta(seconds=e.end if e.end is not None else e.start)
            rows.append(_row(e, session, explanations))
    speech = {path: r.speech for path, r in qc.items()}
    checked = [r for r in session.recordings if r.path in qc]
    if checked:
        # recordings not decoded cannot be judged for speech: the rules run on those that were
        sub = session.model_copy(update={"recordings": checked})
        for e in check_session(sub, speech, settings, set(explanations), file_events):
            rows.append(_row(e, session, explanations))
    return rows


def document(
    sessions: Sequence[Session],
    qc: Mapping[str, QCResult],
    settings: GapSettings,
    explanations: Mapping[str, Mapping[str, dict]] | None = None,
    errors: Sequence[dict] = (),
) -> dict[str, Any]:
    """The ``{"sessions", "events", "errors"}`` document over several sessions.

    ``explanations`` maps session id -> finding id -> latest explanation.
    """
    explanations = explanations or {}
    out: dict[str, Any] = {"sessions": [], "events": [], "errors": list(errors)}
    for session in sessions:
        mine = explanations.get(session.id, {})
        rows = session_events(session, qc, settings, mine)
        flagged = [r for r in rows if r["kind"] not in INFO_KINDS and not r.get("explanation")]
        out["sessions"].append({**session.summary(), "findings": len(flagged), "explained": sorted(mine)})
        out["events"] += rows
    return out


def gaps_for_sessions(
    sessions: Sequence[Session],
    settings: GapSettings,
    explanations: Mapping[str, Mapping[str, dict]] | None = None,
    local_path: Callable[[Recording], str | Path] = lambda r: r.path,
    errors: list[dict] | None = None,
) -> dict[str, Any]:
    """Decode every recording once and apply the session rules.

    Parameters
    ----------
    sessions : sequence of Session
    settings : GapSettings
    explanations : mapping, optional
        session id -> finding id -> explanation (see :func:`records.explanations.load_explanations`).
    local_path : callable, optional
        Where each recording can be read now (default its ``path``).
    errors : list, optional
        Unreadable files are appended here as ``{"file", "reason"}`` and left out.
    """
    errors = errors if errors is not None else []
    qc: dict[str, QCResult] = {}
    for session in sessions:
        listen = listening_windows(session.recordings, session.gaps, settings)
        for rec in session.recordings:
            try:
                qc[rec.path] = analyse(local_path(rec), settings, recording=rec, listen=listen[rec.path])
            except Exception as exc:  # a file that probed but does not decode: report, go on
                errors.append({"file": rec.path, "reason": f"decode failed: {exc}"})
    return document(sessions, qc, settings, explanations, errors)


def check_files(files: list[Path], settings, store=None) -> dict[str, Any]:
    """Probe, segment and check ``files``: the ``--json`` document and the sessions it covers."""
    recordings, errors = [], []
    for path in files:
        try:
            recordings.append(recording_from_file(path, settings))
        except MediaError as exc:
            errors.append({"file": str(path), "reason": exc.reason, "message": exc.message})
        except (OSError, ValueError) as exc:
            errors.append({"file": str(path), "reason": type(exc).__name__, "message": str(exc)})
    sessions = segment(recordings, settings.segment)
    explanations = load_explanations(store, [s.id for s in sessions]) if store is not None else {}
    doc = gaps_for_sessions(sessions, settings.gaps, explanations, errors=errors)
    return doc, sessions
