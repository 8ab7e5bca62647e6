"""Findings of sessions: the gap-check document (the ``footage gaps check --json`` contract) built
from the one decode pass per recording and the session rules; :mod:`reports.gaps` renders it.

The document is :class:`GapDocument` (``footage gaps check --json`` prints its
:meth:`~records.contract.Contract.to_json_dict`; ``gaps.json`` holds one session's part,
:class:`GapRows`):

``{"sessions": [SESSION...], "events": [EVENT...], "errors": [{"file", "reason"}]}``

EVENT (:class:`FindingRow`) always has ``kind``, ``file``, ``device``, ``start``, ``end``, ``at``,
``until``, ``rule``, ``detail``, ``session`` and, where it concerns an explainable finding, ``id``
and ``explanation`` (null or :class:`~records.explanations.Explanation`: ``{at, by, gap, session,
supersedes, text, key}``). ``kind`` is one of ``gap``, ``overlap``,
``discontinuity``, ``dropped_frames``, ``black``, ``freeze``, ``silence``, ``no_audio``,
``audio_dropout``, ``duration_mismatch``, ``speech``, ``speech_window``, ``marker``,
``missing_opening_statement``, ``unexplained_interruption`` (and the foundation's
``clock_disagreement``/``weak_start_time``). ``speech_window`` (with ``gaps.speech_scope =
"rules"``) is a stretch the voice activity detection listened in, ``detail.reason`` ``opening`` or
``resume``: outside those, no ``speech`` event means "not listened", not "silent".
``start``/``end`` are seconds from the start of ``file``, except for ``gap``: seconds on the
session clock (from the start of the session's first recording), with ``at``/``until`` the
absolute ISO times; ``file`` of a gap is the recording that resumed. SESSION
(:class:`SessionFindings`) is :meth:`media.model.Session.summary` plus ``findings`` (count of
flagged events) and ``explained`` (ids with a written explanation), and ``report`` once its report
is written. An error (:class:`GapError`) is ``{"file", "reason"[, "message"]}`` for a file that
could not be checked, or ``{"session", "error"}`` for a session whose rules failed in the ingest
flow.

:func:`gaps_for_sessions` runs the whole thing (one decode pass per recording, then the session
rules) for ``footage gaps check``; the ingest flow decodes each file in its own task, makes each
session's document with :meth:`GapDocument.build` and joins them with :meth:`GapDocument.join`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from media.gaps.qc import QCResult, analyse
from media.gaps.session import check_session, listening_windows
from media.gaps.settings import GapSettings
from media.model import Event, Recording, Session
from media.probe import MediaError
from media.segment import segment
from records.contract import Contract, IsoTime
from records.explanations import Explanation, load_explanations
from records.intake import recording_from_file

#: kinds listed for information, not flagged as findings
INFO_KINDS = {"speech", "speech_window", "marker"}


class FindingRow(Contract):
    """One row of the document's ``events`` (the module docstring says what each field holds).

    ``detail`` holds the detector's figures, which differ by kind. Fields that an
    :class:`~media.model.Event` carried beyond its own (an older manifest's) are kept, and written
    after ``detail`` as the event had them.
    """

    model_config = ConfigDict(extra="allow")
    OPTIONAL = frozenset({"id", "explanation"})
    _LAST: ClassVar[tuple[str, ...]] = ("session", "id", "explanation")

    kind: str
    file: str | None = None
    device: str | None = None
    start: float | None = None
    end: float | None = None
    at: datetime | None = None  # written as pydantic writes an Event's times
    until: datetime | None = None
    rule: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    session: str | None = None
    # the finding's id (a gap id, ``opening`` ...): where it can be explained; a chapter marker's own id
    id: str | int | None = None
    explanation: Explanation | None = None

    def _arrange(self, body: dict[str, Any]) -> dict[str, Any]:
        last = {k: body.pop(k) for k in self._LAST if k in body}
        return {**body, **last}

    @classmethod
    def of(cls, e: Event, session: Session, explanations: Mapping[str, Explanation]) -> "FindingRow":
        """The row of event ``e`` of ``session``, with the explanation of its finding, if any."""
        row = cls.model_validate(e.model_dump(mode="json"))
        row.session = session.id
        row.device = row.device or session.device
        eid = e.detail.get("id")
        if eid is not None:
            row.id = eid
            row.explanation = explanations.get(eid)
        return row

    @property
    def flagged(self) -> bool:
        """Flagged by the rules (a gap is listed as a gap, not as a finding; information is not)."""
        return self.kind not in INFO_KINDS and self.kind != "gap"

    @property
    def open(self) -> bool:
        """A finding without a written explanation."""
        return self.flagged and self.explanation is None


class SessionFindings(Contract):
    """One session of the document: :meth:`media.model.Session.summary`, the count of its flagged
    rows without an explanation, the ids explained, and its report once written."""

    OPTIONAL = frozenset({"report"})

    id: str
    device: str
    start: IsoTime
    end: IsoTime
    files: list[str]
    recordings: int
    gaps: int
    findings: int
    explained: list[str]
    report: str | None = None  # its gaps.md (reports.gaps.write_session_reports)


class GapError(Contract):
    """What could not be checked: a file (``file``, ``reason``, ``message``) or, in the ingest
    flow, a session whose rules failed (``session``, ``error``)."""

    OPTIONAL = frozenset({"file", "reason", "message", "session", "error"})

    file: str | None = None
    reason: str | None = None
    message: str | None = None
    session: str | None = None
    error: str | None = None

    @classmethod
    def failed_session(cls, session: str, exc: BaseException) -> "GapError":
        """A session whose rules failed (the store down, say): its files say what happened."""
        return cls(session=session, error=f"{type(exc).__name__}: {exc}")


class GapRows(Contract):
    """Sessions and their rows: one session's part of the document is ``gaps.json``."""

    sessions: list[SessionFindings] = Field(default_factory=list)
    events: list[FindingRow] = Field(default_factory=list)

    def findings_of(self, path: str) -> list[FindingRow]:
        """The findings (explained or not) that concern the recording at ``path``."""
        return [e for e in self.events if e.flagged and e.file == path]

    def open_findings(self) -> list[FindingRow]:
        """The findings that have no written explanation."""
        return [e for e in self.events if e.open]


class GapDocument(GapRows):
    """The gap document: every session checked, their rows, and what could not be checked."""

    errors: list[GapError] = Field(default_factory=list)

    @classmethod
    def build(
        cls,
        sessions: Sequence[Session],
        qc: Mapping[str, QCResult],
        settings: GapSettings,
        explanations: Mapping[str, Mapping[str, Explanation | Mapping[str, Any]]] | None = None,
        errors: Iterable[GapError | Mapping[str, Any]] = (),
    ) -> "GapDocument":
        """The document over several sessions.

        ``explanations`` maps session id -> finding id -> latest explanation
        (:func:`records.explanations.load_explanations`).
        """
        doc = cls(errors=[GapError.model_validate(e) for e in errors])
        for session in sessions:
            mine = {k: Explanation.model_validate(v) for k, v in (explanations or {}).get(session.id, {}).items()}
            rows = session_events(session, qc, settings, mine)
            flagged = [r for r in rows if r.kind not in INFO_KINDS and r.explanation is None]
            doc.sessions.append(SessionFindings(**session.summary(), findings=len(flagged), explained=sorted(mine)))
            doc.events += rows
        return doc

    @classmethod
    def join(cls, parts: Iterable["GapDocument | GapError | Mapping[str, Any]"]) -> "GapDocument":
        """The documents of several sessions as one, in order; a :class:`GapError` among them (a
        session whose rules failed: :meth:`GapError.failed_session`) is added to ``errors``."""
        doc = cls()
        for part in parts:
            if isinstance(part, GapError):
                doc.errors.append(part)
                continue
            part = as_document(part)
            doc.sessions += part.sessions
            doc.events += part.events
            doc.errors += part.errors
        return doc

    def of_session(self, session_id: str) -> GapRows:
        """One session's part (``gaps.json``): its line in ``sessions`` and its rows."""
        return GapRows(sessions=[s for s in self.sessions if s.id == session_id],
                       events=[e for e in self.events if e.session == session_id])


def as_document(doc: GapDocument | Mapping[str, Any]) -> GapDocument:
    """``doc`` as a :class:`GapDocument`: the model itself, or the document's JSON read."""
    return doc if isinstance(doc, GapDocument) else GapDocument.model_validate(doc)


def open_findings(doc: GapDocument | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings of a document that have no written explanation, as JSON rows (the ingest
    summary's ``findings``). ``doc``: the model, or its JSON."""
    return [e.to_json_dict() for e in as_document(doc).open_findings()]


def findings_of(doc: GapDocument | Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    """The findings (explained or not) of a document that concern the recording at ``path``, as
    JSON rows (a manifest's ``findings``). ``doc``: the model, or its JSON."""
    return [e.to_json_dict() for e in as_document(doc).findings_of(path)]


def session_events(
    session: Session,
    qc: Mapping[str, QCResult],
    settings: GapSettings,
    explanations: Mapping[str, Explanation] | None = None,
) -> list[FindingRow]:
    """Every event of one session as contract rows, flagged ones not explained."""
    explanations = explanations or {}
    rows: list[FindingRow] = []
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
        rows.append(FindingRow.of(e, session, explanations))
    for e in session.events:
        rows.append(FindingRow.of(e, session, explanations))
    file_events: dict[str, list[Event]] = {}
    for rec in session.recordings:
        rows += [FindingRow.of(e.model_copy(update={"file": e.file or rec.path}), session, explanations)
                 for e in rec.events]
        result = qc.get(rec.path)
        if result is None:
            continue
        file_events[rec.path] = result.events
        for e in result.events:
            e = e.model_copy(update={"file": rec.path, "device": rec.device_id})
            if e.start is not None:
                e.at = rec.start + timedelta(seconds=e.start)
                e.until = rec.start + timedelta(seconds=e.end if e.end is not None else e.start)
            rows.append(FindingRow.of(e, session, explanations))
    speech = {path: r.speech for path, r in qc.items()}
    checked = [r for r in session.recordings if r.path in qc]
    if checked:
        # recordings not decoded cannot be judged for speech: the rules run on those that were
        sub = session.model_copy(update={"recordings": checked})
        for e in check_session(sub, speech, settings, set(explanations), file_events):
            rows.append(FindingRow.of(e, session, explanations))
    return rows


def document(
    sessions: Sequence[Session],
    qc: Mapping[str, QCResult],
    settings: GapSettings,
    explanations: Mapping[str, Mapping[str, Explanation | Mapping[str, Any]]] | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """:meth:`GapDocument.build` as its JSON, for the ingest flow until it takes the model
    (flows/ingest.py ``gaps_task``); new code calls :meth:`GapDocument.build`."""
    return GapDocument.build(sessions, qc, settings, explanations, errors).to_json_dict()


def gaps_for_sessions(
    sessions: Sequence[Session],
    settings: GapSettings,
    explanations: Mapping[str, Mapping[str, Explanation]] | None = None,
    local_path: Callable[[Recording], str | Path] = lambda r: r.path,
    errors: list[GapError] | None = None,
) -> GapDocument:
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
        Unreadable files are appended here as :class:`GapError` (``file``, ``reason``) and left out.
    """
    errors = errors if errors is not None else []
    qc: dict[str, QCResult] = {}
    for session in sessions:
        listen = listening_windows(session.recordings, session.gaps, settings)
        for rec in session.recordings:
            try:
                qc[rec.path] = analyse(local_path(rec), settings, recording=rec, listen=listen[rec.path])
            except Exception as exc:  # a file that probed but does not decode: report, go on
                errors.append(GapError(file=rec.path, reason=f"decode failed: {exc}"))
    return GapDocument.build(sessions, qc, settings, explanations, errors)


def check_files(files: list[Path], settings, store=None) -> tuple[GapDocument, list[Session]]:
    """Probe, segment and check ``files``: the ``--json`` document and the sessions it covers."""
    recordings: list[Recording] = []
    errors: list[GapError] = []
    for path in files:
        try:
            recordings.append(recording_from_file(path, settings))
        except MediaError as exc:
            errors.append(GapError(file=str(path), reason=exc.reason, message=exc.message))
        except (OSError, ValueError) as exc:
            errors.append(GapError(file=str(path), reason=type(exc).__name__, message=str(exc)))
    sessions = segment(recordings, settings.segment)
    explanations = load_explanations(store, [s.id for s in sessions]) if store is not None else {}
    doc = gaps_for_sessions(sessions, settings.gaps, explanations, errors=errors)
    return doc, sessions
