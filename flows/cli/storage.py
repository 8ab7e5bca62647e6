"""Storage commands: ``footage storage init|extend|hold|audit``.

``init`` creates the S3 bucket with Object Lock, a default retention and a lifecycle rule that
aborts incomplete uploads, and probes that the server keeps the permanent retain-until date; ``extend`` moves a
record's retain-until later (never earlier); ``hold`` sets or clears a legal hold; ``audit`` runs
the fixity audit. ``extend``, ``hold`` and ``audit`` check the acting user's role
(``storage.*`` in :data:`records.roles.ACTION_ROLES`); ``extend`` and ``hold`` are role-gated
inputs, signed with ``--key`` in multi-user mode (records/identity.py), and write an event to the
record's history (``records/<sha256>/events/``) and to the audit log, with the signature.

:mod:`storage.s3` (boto3), :mod:`flows.fixity` (Prefect), :mod:`records.history` (which
imports records.settings) and :mod:`records.manifest` (pydantic models) are imported inside the
functions that need them: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from flows.cli.common import (PROBLEM_EXIT, as_option, authorize, context, err, fail, key_option, load_settings, out,
                              print_json, signed)
from storage import ObjectNotFound, RetentionLocked, StorageError

_SHA = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")

storage_app = typer.Typer(help="Object storage: Object Lock bucket, retention, legal holds, fixity.",
                          no_args_is_help=True)


def parse_until(text: str, tz: str) -> datetime:
    """``YYYY-MM-DD`` (the end of that day in ``tz``) or an ISO datetime (naive: in ``tz``)."""
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=ZoneInfo(tz))
        else:
            value = datetime.fromisoformat(text)
            if value.tzinfo is None:
                value = value.replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or datetime", param_hint="--until") from None
    return value.astimezone(timezone.utc)


def resolve(store, target: str) -> tuple[str, str | None, str]:
    """(key, version_id, record sha256) for a stored key, or for a record's SHA-256 (its original)."""
    from records.manifest import load_manifest  # see the module docstring

    if re.fullmatch(r"[0-9a-f]{64}", target):
        try:
            stored = load_manifest(store, target).stored
        except ObjectNotFound:
            fail(f"no record {target} (no manifests/{target}.json)")
        except ValueError as e:
            fail(f"the manifest of record {target} cannot be read: {e}")
        return stored.key, stored.version_id, target
    try:
        info = store.head(target)
    except ObjectNotFound:
        fail(f"no object {target!r} in the store")
    except Exception as e:  # an invalid key, an unreachable store
        fail(str(e))
    m = _SHA.search(target)
    record = m.group(1) if m else info.sha256
    if not record:
        fail(f"cannot tell which record {target!r} belongs to")
    return target, info.version_id, record


@storage_app.command("init")
def init(
    allow_unlocked: bool = typer.Option(False, "--allow-unlocked",
                                        help="Accept an existing bucket without Object Lock (NOT write-once)."),
    retention_days: Optional[int] = typer.Option(None, "--retention-days",
                                                 help="Bucket default retention (default: storage.min_days_after_ingest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create the S3 bucket with Object Lock (versioning on), a default retention and a rule aborting incomplete
    uploads; check that the server keeps the permanent retain-until date."""
    settings = load_settings()
    s = settings.storage
    if s.backend == "local":
        settings.ensure_layout()
        result: dict[str, Any] = {
            "backend": "local", "root": str(settings.store_root), "object_lock": False,
            "warning": "the local backend is for trying Footage out and is NOT WORM-grade; "
                       "use the s3 backend with Object Lock for real records (docs/storage.md)",
        }
    else:
        from storage.s3 import S3Store  # boto3, see the module docstring

        store = S3Store(s.bucket, endpoint_url=s.endpoint_url, region=s.region, path_style=s.path_style,
                        profile=s.profile, prefix=s.prefix, allow_unlocked=allow_unlocked or s.allow_unlocked)
        days = retention_days if retention_days is not None else s.min_days_after_ingest
        try:
            result = store.init_bucket(default_retention_days=days or None, mode=s.mode)
            if result["object_lock"]:
                result["retention_probe"] = probe_permanent_retention(store, s)
        except StorageError as e:
            fail(str(e))
    if as_json:
        print_json(result)
        return
    if result.get("warning"):
        err.print(f"[bold yellow]{result['warning']}[/]", highlight=False)
    if result.get("backend") == "local":
        out.print(f"local store ready at {result['root']}", highlight=False)
        return
    dr = result["default_retention"]
    probe = result.get("retention_probe")
    out.print(
        f"bucket {result['bucket']} at {result['endpoint']}: {'created' if result['created'] else 'exists'}, "
        f"Object Lock {'enabled' if result['object_lock'] else 'NOT enabled'}"
        + (f", default retention {dr['mode']} {dr['days']} days" if dr else "")
        + f", incomplete uploads aborted after {result['abort_incomplete_uploads_days']} days"
        + (f", permanent records kept until {probe['held']} (probed)" if probe else ""),
        highlight=False,
    )


def probe_permanent_retention(store, cfg) -> dict[str, Any]:
    """Ask the server to keep the farthest retain-until any record gets (a permanent category's
    ``storage.evidence_until``; audit segments are kept as long) on a probe object and read it
    back: a server that cannot hold it (Ceph RGW 16 keeps 32-bit seconds, so 2199-12-31 reads back
    as 2063-11-24) is refused here, at install time, rather than by every ingest after it."""
    from records.keys import RETENTION_PROBE
    from records.retention import retain_until
    from storage import RetentionShort

    now = datetime.now(timezone.utc)
    far = max(retain_until(now, [c], cfg, ingested=now) for c in cfg.categories)
    try:
        return store.probe_retention(RETENTION_PROBE, far)
    except RetentionShort as e:
        fail(f"the retention probe {e}. This server cannot keep the date permanent records get, "
             f"storage.evidence_until = {cfg.evidence_until}: set storage.evidence_until "
             f"(FOOTAGE_STORAGE__EVIDENCE_UNTIL) to a date it keeps (before 2106-02-07 on Ceph RGW 16, "
             f"e.g. 2105-12-31) and run `footage storage init` again")


@storage_app.command("extend")
def extend(
    key: str = typer.Argument(..., help="Stored key, or a record's SHA-256 (its original)."),
    until: str = typer.Option(..., "--until", help="New retain-until: YYYY-MM-DD or ISO datetime."),
    as_user: Optional[str] = as_option(),
    key_path: Optional[str] = key_option(),
) -> None:
    """Extend the retention of a stored object; shortening is refused."""
    from records.history import record_event  # see the module docstring

    settings, store, user = context(as_user)
    when = parse_until(until, settings.time.timezone)
    skey, version, record = resolve(store, key)
    authorize(settings, store, user, "storage.extend", record)
    proof = signed(settings, store, user, "storage.extend", record=record, key=key_path,
                   content={"key": skey, "version_id": version, "until": when.isoformat()})
    before = store.head(skey, version).retain_until
    try:
        info = store.extend_retention(skey, when, version_id=version)
    except RetentionLocked as e:
        fail(str(e), PROBLEM_EXIT)
    except StorageError as e:
        fail(str(e))
    detail = {"key": skey, "version_id": info.version_id, "from": before.isoformat() if before else None,
              "until": info.retain_until.isoformat() if info.retain_until else when.isoformat(), "mode": info.mode}
    if proof:
        detail["proof"] = proof
    record_event(settings, store, record, "retention_extended", user=user, detail=detail,
                 retain_until=info.retain_until)
    out.print(f"{skey}: retained until {detail['until']} ({info.mode})", highlight=False)


@storage_app.command("hold")
def hold(
    key: str = typer.Argument(..., help="Stored key, or a record's SHA-256 (its original)."),
    on: bool = typer.Option(..., "--on/--off", help="Set or clear the legal hold."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the record's history)."),
    as_user: Optional[str] = as_option(),
    key_path: Optional[str] = key_option(),
) -> None:
    """Set or clear a legal hold: a held object cannot be deleted whatever its retention."""
    from records.history import record_event  # see the module docstring

    settings, store, user = context(as_user)
    skey, version, record = resolve(store, key)
    authorize(settings, store, user, "storage.hold", record)
    proof = signed(settings, store, user, "storage.hold", record=record, key=key_path,
                   content={"key": skey, "version_id": version, "legal_hold": on, "reason": reason})
    try:
        info = store.set_legal_hold(skey, on, version_id=version)
    except StorageError as e:
        fail(str(e))
    detail = {"key": skey, "version_id": info.version_id, "legal_hold": on, "reason": reason}
    if proof:
        detail["proof"] = proof
    record_event(settings, store, record, "legal_hold_set" if on else "legal_hold_cleared", user=user,
                 detail=detail, retain_until=info.retain_until)
    out.print(f"{skey}: legal hold {'ON' if on else 'OFF'}", highlight=False)


@storage_app.command("audit")
def audit(
    sample: float = typer.Option(100.0, "--sample", min=0.001, max=100.0, help="Percent of records to re-hash."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    as_user: Optional[str] = as_option(),
) -> None:
    """Fixity audit: re-hash stored copies, check their versions and locks against their manifests (exit 1 on problems)."""
    from flows.fixity import fixity_audit  # Prefect, see the module docstring

    settings, store, user = context(as_user, "storage.audit")
    report = fixity_audit(sample_pct=sample, settings=settings)
    if as_json:
        print_json(report.without_results())
    else:
        if report.warning:
            out.print(f"[bold yellow]{report.warning}[/]", highlight=False)
        c = report.counts
        out.print(
            f"fixity: {report.checked} of {report.manifests} records checked: ok {c.ok}, "
            f"mismatched {c.mismatch}, missing {c.missing}, overwritten {c.overwritten}, "
            f"locked shorter {c.retention_short}, bad manifests {c.bad_manifest}, errors {c.error}",
            highlight=False,
        )
        if report.problems:
            t = Table("status", "record", "key", "detail")
            for p in report.problems:
                t.add_row(p.status, p.sha256[:16] + "…", str(p.key), p.detail)
            out.print(t)
        out.print(f"report: {report.paths['markdown']}", highlight=False)
    if not report.ok:
        raise typer.Exit(PROBLEM_EXIT)
