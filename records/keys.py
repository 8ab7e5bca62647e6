"""The object-key layout of the store: every prefix defined once, every key built here.

A record is identified by the SHA-256 of its original file. Keys are deterministic, so a rerun
writes to the same key and never makes a second copy. WORM storage cannot append to an object,
so every later event about a record (retention extended, legal hold, explanation, disclosure
step) is an object of its own.

====================  ===========================================================================
prefix                holds
====================  ===========================================================================
``originals/``        ``originals/<device>/<YYYY/MM/DD>/<sha256>.<ext>``: the original, bit for bit
``manifests/``        ``manifests/<sha256>.json``: the record's manifest (:mod:`records.manifest`)
``derivatives/``      ``derivatives/<sha256>/<kind>-<its own sha256>.<ext>``: master, access copy
``records/``          ``records/<sha256>/events/<UTC time>-<kind>.json``: the record's history
``disclosures/``      ``disclosures/<sha256>/<run>/``: a released copy, its redaction log, receipt
``explanations/``     ``explanations/<session>/<finding>/<UTC time>.json``: written explanations
``cases/``            ``cases/<case>/closing-<UTC time>.json``: a case's closing date
``audit/``            ``audit/segments/<seq>-<UTC time>.json``: the hash-chained audit log
``identity/``         ``identity/<user>/<UTC time>-<fingerprint>.json``: each user's keys as first seen
``reports/``          ``reports/compliance/<month>/<UTC time>/<file>``: stored reports
``probes/``           ``probes/retention``: what ``footage storage init`` locks until the permanent
                      date, to learn whether the server keeps it (one object, extended by each init)
====================  ===========================================================================
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import PurePosixPath

ORIGINALS = "originals/"
MANIFESTS = "manifests/"
DERIVATIVES = "derivatives/"
RECORDS = "records/"
DISCLOSURES = "disclosures/"
EXPLANATIONS = "explanations/"
CASES = "cases/"
AUDIT_SEGMENTS = "audit/segments/"
IDENTITY = "identity/"
REPORTS = "reports/"
PROBES = "probes/"
RETENTION_PROBE = f"{PROBES}retention"

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str, fallback: str = "unknown") -> str:
    """A key component made only of safe characters (never ``..``, never a slash)."""
    cleaned = _SAFE.sub("-", text).strip(".-") or fallback
    return cleaned[:80]


def _stamp(when: datetime) -> str:
    return f"{when.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}"


def key_suffix(name: str) -> str:
    return PurePosixPath(name).suffix or ".bin"


def originals_prefix(device: str, day: datetime) -> str:
    """Where a device's originals made on ``day`` (its date as given) are kept."""
    return f"{ORIGINALS}{safe_part(device)}/{day:%Y/%m/%d}/"


def original_key(sha256: str, device: str, made: datetime, suffix: str) -> str:
    ext = safe_part(suffix.lower().lstrip("."), "bin")
    return f"{originals_prefix(device, made)}{sha256}.{ext}"


def sha256_of_original(key: str) -> str:
    """The record id in an original's key."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def manifest_key(sha256: str) -> str:
    return f"{MANIFESTS}{sha256}.json"


def derivative_key(sha256: str, kind: str, content_sha256: str, suffix: str) -> str:
    """A derivative's key names its own content: an FFV1 or remux master is not byte-reproducible
    (Matroska writes a random segment UID and the muxing date), so a rerun after a crash makes
    other bytes, which must land under another key, never on a retention-locked one."""
    return f"{DERIVATIVES}{sha256}/{safe_part(kind)}-{content_sha256}.{safe_part(suffix.lstrip('.'), 'bin')}"


def events_prefix(sha256: str) -> str:
    return f"{RECORDS}{sha256}/events/"


def event_key(sha256: str, kind: str, when: datetime) -> str:
    return f"{events_prefix(sha256)}{when:%Y%m%dT%H%M%S%fZ}-{safe_part(kind)}.json"


def disclosure_prefix(record: str, run_id: str) -> str:
    """Where one disclosure run keeps its released copy, redaction log and receipt."""
    return f"{DISCLOSURES}{record}/{safe_part(run_id)}/"


def explanation_prefix(session: str, finding: str | None = None) -> str:
    return f"{EXPLANATIONS}{session}/" + (f"{finding}/" if finding else "")


def explanation_key(session: str, finding: str, when: datetime) -> str:
    return f"{explanation_prefix(session, finding)}{when.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}.json"


def case_key(case_id: str, when: datetime) -> str:
    return f"{CASES}{safe_part(case_id)}/closing-{_stamp(when)}.json"


def audit_segment_key(seq: int, when: datetime) -> str:
    return f"{AUDIT_SEGMENTS}{seq:012d}-{_stamp(when)}.json"


def user_keys_prefix(user: str) -> str:
    """Where the keys registered for ``user`` are noted (the safe name plus a digest of the real
    one, so that two names that clean up alike never share a folder)."""
    digest = hashlib.sha256(user.encode()).hexdigest()[:12]
    return f"{IDENTITY}{safe_part(user)}-{digest}/"


def user_key_key(user: str, fingerprint_hex: str, when: datetime) -> str:
    return f"{user_keys_prefix(user)}{_stamp(when)}-{safe_part(fingerprint_hex)}.json"


def compliance_report_key(month: str, generated: datetime, name: str) -> str:
    return f"{REPORTS}compliance/{month}/{generated.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}/{name}"
