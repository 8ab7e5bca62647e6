"""A record's manifest (``manifests/<sha256>.json``): the one writer and the typed readers.

The manifest is the record's commit point: written last, after the original and its derivatives,
it says what was stored where, under which retention, and what the checks found. Every reader
(earlier recordings of a session, deadlines, fixity, compliance, the storage and disclosure
commands) goes through :class:`Manifest`, never through dictionary keys.

Versions
--------
``footage.manifest/2`` (written now) adds ``findings`` (the flagged rows of the session's gap
report that concern this recording, articles 20 and 21 among them) and ``case``.
``footage.manifest/1`` is still read: it has neither, and its findings are taken from the events
it kept (``recording.events`` and ``session_events``), as readers of version 1 did.

Since issue 22 the entries of ``archive.stored`` are written like ``stored`` (:class:`StoredObject`,
one model for every stored copy): in its field order, and with the derivative's ``retain_until``
and ``mode`` (the same lock as the original's), which older manifests lack; readers accept both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr

from media.model import Event, Recording
from storage import ObjectNotFound, ObjectStore, StorageError

from records.credentials import Credentials
from records.keys import MANIFESTS, manifest_key
from records.pinned import read_first

SCHEMA = "footage.manifest/2"
SCHEMAS = ("footage.manifest/1", SCHEMA)
#: finding kinds a version 1 manifest could hold in its events
_V1_FINDINGS = ("unexplained_interruption", "missing_opening_statement")


#: a datetime written as ``isoformat()`` ("+00:00", as the stored records and the CLI's JSON always
#: had it), not as pydantic's default ("Z")
IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json")]


class StoredObject(BaseModel):
    """Where one stored copy is, and under which lock: an original (``Manifest.stored``,
    ``Outcome.stored``) or a derivative (``kind`` master or access, ``action`` how it was made;
    ``Manifest.archive.stored``, ``Outcome.derivatives``).

    Frozen: a copy, once stored, is a fact. Serialised with :meth:`to_json_dict`, which leaves out
    the fields nobody set, so that records written before a field existed read and write back the
    same.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    key: str
    sha256: str | None = None
    size: int | None = None
    retain_until: IsoTime | None = None
    mode: str | None = None
    version_id: str | None = None
    backend: str | None = None
    kind: str | None = None
    action: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class ArchiveRecord(BaseModel):
    """A manifest's ``archive`` section: how the master and the access copy were made (the proof
    per stream, as :meth:`records.derivatives.ArchiveOutputs.manifest` wrote it) and where they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    action: str | None = None
    note: str | None = None
    master: dict[str, Any] | None = None
    access: dict[str, Any] | None = None
    stored: list[StoredObject] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude={"stored"})
        body["stored"] = [s.to_json_dict() for s in self.stored]
        return body


class Manifest(BaseModel):
    """What one record is: the recording, where its copies are, what the checks found.

    Unknown fields are kept (``extra="allow"``), so a manifest read and written again loses
    nothing.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: str = Field(SCHEMA, alias="schema")
    sha256: str
    recording: Recording
    session: str | None = None
    session_events: list[Event] = Field(default_factory=list)
    gaps: list[dict[str, Any]] = Field(default_factory=list)
    qc_events: list[Event] = Field(default_factory=list)
    qc_stats: dict[str, Any] | None = None
    categories: list[str] = Field(default_factory=list)
    case: str | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    stored: StoredObject
    ingested_at: datetime | None = None
    archive: ArchiveRecord | None = None
    # the camera's C2PA manifest, read at ingest (records/credentials.py); None: the file had none
    credentials: Credentials | None = None
    # the manifest object's time in the store (set by iter_manifests): when ``ingested_at`` is absent
    _object_time: datetime | None = PrivateAttr(None)

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: bytes | str | dict[str, Any]) -> "Manifest":
        """Read either version; raises ``ValueError`` for anything else."""
        body = json.loads(data) if isinstance(data, (bytes, str)) else dict(data)
        if not isinstance(body, dict) or body.get("schema") not in SCHEMAS:
            raise ValueError(f"not a Footage manifest (schema {body.get('schema') if isinstance(body, dict) else None!r})")
        manifest = cls.model_validate(body)
        if manifest.schema_ == "footage.manifest/1":
            manifest.findings = [
                e.model_dump(mode="json", exclude_none=True)
                for e in [*manifest.recording.events, *manifest.session_events]
                if e.kind in _V1_FINDINGS and not e.detail.get("explanation")
            ]
        return manifest

    @property
    def made(self) -> datetime:
        """When the recording was made (its start)."""
        return self.recording.start

    @property
    def stored_at(self) -> datetime | None:
        """When the record reached storage: ``ingested_at``, else the manifest object's time."""
        return self.ingested_at or self._object_time

    @property
    def case_id(self) -> str | None:
        """The case the recording belongs to: the sidecar's ``case_id``, else a ``case`` tag."""
        tags = self.recording.tags
        return self.case or tags.get("case") or tags.get("case_id")

    def open_findings(self, kind: str, explained: set[str] | frozenset[str] = frozenset()) -> int:
        """How many findings of ``kind`` have no written explanation (ids in ``explained``)."""
        return sum(
            1 for f in self.findings
            if f.get("kind") == kind and not f.get("explanation") and f.get("id") not in explained
        )

    # -- writing ------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """The stored form: the same shape and key order as version 1, plus the new fields."""
        body: dict[str, Any] = {
            "schema": SCHEMA,
            "sha256": self.sha256,
            "recording": self.recording.model_dump(mode="json"),
            "session": self.session,
            "session_events": [e.model_dump(mode="json") for e in self.session_events],
            "gaps": self.gaps,
            "qc_events": [e.model_dump(mode="json", exclude_none=True) for e in self.qc_events],
            "qc_stats": self.qc_stats,
            "categories": self.categories,
            "case": self.case,
            "findings": self.findings,
            "stored": self.stored.to_json_dict(),
            "ingested_at": self.ingested_at.isoformat() if self.ingested_at else None,
        }
        if self.archive is not None:
            body["archive"] = self.archive.to_json_dict()
        if self.credentials is not None:
            body["credentials"] = self.credentials.to_json_dict()
        body.update(self.model_extra or {})
        return json.dumps(body, ensure_ascii=False, indent=1).encode()


def load_manifest(store: ObjectStore, sha256: str) -> Manifest:
    """The manifest of record ``sha256``; raises :class:`storage.ObjectNotFound` when there is none.

    Read at the version written first (:func:`records.pinned.read_first`): a version PUT on top of
    the locked manifest later, or a delete marker, does not change what is read.
    """
    return Manifest.from_json(read_first(store, manifest_key(sha256)))


def find_manifest(store: ObjectStore, sha256: str) -> Manifest | None:
    """The manifest of record ``sha256``, or None when the record is not stored."""
    try:
        return load_manifest(store, sha256)
    except ObjectNotFound:
        return None


def manifest_keys(store: ObjectStore) -> list[str]:
    return [o.key for o in store.list(MANIFESTS) if o.key.endswith(".json")]


def iter_manifests(store: ObjectStore) -> Iterator[Manifest]:
    """Every readable manifest in the store.

    Unreadable objects under ``manifests/`` are skipped here; the fixity audit reports them.
    Each is read at the version written first, as :func:`load_manifest` does.
    """
    for info in store.list(MANIFESTS):
        if not info.key.endswith(".json"):
            continue
        try:
            manifest = Manifest.from_json(read_first(store, info.key))
        except (ValueError, StorageError):
            continue
        manifest._object_time = info.last_modified
        yield manifest


def build_manifest(
    recording: Recording,
    stored: StoredObject,
    *,
    session: Any = None,
    qc: Any = None,
    categories: list[str] | None = None,
    case: str | None = None,
    findings: list[dict[str, Any]] | None = None,
    archive: ArchiveRecord | None = None,
    ingested_at: datetime | None = None,
) -> Manifest:
    """The manifest of a record being stored.

    Parameters
    ----------
    recording : Recording
    stored : StoredObject
        Where the original went.
    session : media.model.Session, optional
        Its session: the id, the segment events and the gaps that touch this recording are kept.
    qc : media.gaps.qc.QCResult, optional
        The decode checks' events and statistics.
    findings : list of dict, optional
        The flagged rows of the session's gap report that concern this recording.
    """
    name = recording.name
    return Manifest(
        sha256=recording.sha256,
        recording=recording,
        session=session.id if session else None,
        session_events=[e for e in (session.events if session else []) if e.file == name],
        gaps=[
            {"start": g.start.isoformat(), "end": g.end.isoformat(), "seconds": g.seconds, "before": g.before, "after": g.after}
            for g in (session.gaps if session else [])
            if name in (g.before, g.after)
        ],
        qc_events=list(qc.events) if qc else [],
        qc_stats=qc.stats if qc else None,
        categories=list(categories or []),
        case=case,
        findings=list(findings or []),
        stored=stored,
        ingested_at=ingested_at or datetime.now(timezone.utc),
        archive=archive,
    )
