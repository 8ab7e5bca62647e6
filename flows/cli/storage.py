"""Storage commands: ``footage storage init|extend|hold|audit``.

``init`` creates the S3 bucket with Object Lock and a default retention; ``extend`` moves a
record's retain-until later (never earlier); ``hold`` sets or clears a legal hold; ``audit`` runs
the fixity audit. ``extend`` and ``hold`` write an event to the record's history
(``records/<sha256>/events/``) and to the audit log.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

AS_HELP = "Act as this user (default: $FOOTAGE_USER, else the OS user)."
DENIED_EXIT = 3
_SHA = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")

out = Console(soft_wrap=True)
err = Console(stderr=True)
storage_app = typer.Typer(help="Object storage: Object Lock bucket, retention, legal holds, fixity.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(storage_app, name="storage")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _user_allowed(settings, store, user: str, roles, action: str, record: str | None = None) -> None:
    from records.roles import PermissionDenied, require_role

    try:
        require_role(settings, user, roles, store, action=action, record=record)
    except PermissionDenied as e:
        _fail(str(e), DENIED_EXIT)


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
    from storage import ObjectNotFound

    from records.manifest import load_manifest

    if re.fullmatch(r"[0-9a-f]{64}", target):
        try:
            stored = load_manifest(store, target).stored
        except ObjectNotFound:
            _fail(f"no record {target} (no manifests/{target}.json)")
        except ValueError as e:
            _fail(f"the manifest of record {target} cannot be read: {e}")
        return stored.key, stored.version_id, target
    try:
        info = store.head(target)
    except ObjectNotFound:
        _fail(f"no object {target!r} in the store")
    except Exception as e:  # an invalid key, an unreachable store
        _fail(str(e))
    m = _SHA.search(target)
    record = m.group(1) if m else info.sha256
    if not record:
        _fail(f"cannot tell which record {target!r} belongs to")
    return target, info.version_id, record


def _record_event(store, settings, record: str, kind: str, user: str, detail: dict[str, Any], until) -> None:
    from records.history import add_record_event

    add_record_event(store, record, kind, user=user, detail=detail, retain_until=until)
    try:
        from records.audit import open_audit
    except ImportError:  # the audit log is optional
        return
    open_audit(settings, store).append(kind, user=user, record=record, detail=detail)


def _context(as_user: str | None):
    from records.settings import load_settings
    from records.roles import acting_user
    from records.store import open_store

    settings = load_settings()
    try:
        store = open_store(settings)
    except Exception as e:
        _fail(str(e))
    return settings, store, acting_user(as_user)


@storage_app.command("init")
def init(
    allow_unlocked: bool = typer.Option(False, "--allow-unlocked",
                                        help="Accept an existing bucket without Object Lock (NOT write-once)."),
    retention_days: Optional[int] = typer.Option(None, "--retention-days",
                                                 help="Bucket default retention (default: storage.min_days_after_ingest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create the S3 bucket with Object Lock (versioning on) and a default retention."""
    from storage import StorageError

    from records.settings import load_settings

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
        from storage.s3 import S3Store

        store = S3Store(s.bucket, endpoint_url=s.endpoint_url, region=s.region, path_style=s.path_style,
                        profile=s.profile, prefix=s.prefix, allow_unlocked=allow_unlocked or s.allow_unlocked)
        days = retention_days if retention_days is not None else s.min_days_after_ingest
        try:
            result = store.init_bucket(default_retention_days=days or None, mode=s.mode)
        except StorageError as e:
            _fail(str(e))
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return
    if result.get("warning"):
        err.print(f"[bold yellow]{result['warning']}[/]", highlight=False)
    if result.get("backend") == "local":
        out.print(f"local store ready at {result['root']}", highlight=False)
        return
    dr = result["default_retention"]
    out.print(
        f"bucket {result['bucket']} at {result['endpoint']}: {'created' if result['created'] else 'exists'}, "
        f"Object Lock {'enabled' if result['object_lock'] else 'NOT enabled'}"
        + (f", default retention {dr['mode']} {dr['days']} days" if dr else ""),
        highlight=False,
    )


@storage_app.command("extend")
def extend(
    key: str = typer.Argument(..., help="Stored key, or a record's SHA-256 (its original)."),
    until: str = typer.Option(..., "--until", help="New retain-until: YYYY-MM-DD or ISO datetime."),
    as_user: Optional[str] = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Extend the retention of a stored object; shortening is refused."""
    from storage import RetentionLocked, StorageError

    from records.settings import Role

    settings, store, user = _context(as_user)
    when = parse_until(until, settings.time.timezone)
    skey, version, record = resolve(store, key)
    _user_allowed(settings, store, user, {Role.ARCHIVIST, Role.SUPERVISOR}, "storage.extend", record)
    before = store.head(skey, version).retain_until
    try:
        info = store.extend_retention(skey, when, version_id=version)
    except RetentionLocked as e:
        _fail(str(e), 1)
    except StorageError as e:
        _fail(str(e))
    detail = {"key": skey, "version_id": info.version_id, "from": before.isoformat() if before else None,
              "until": info.retain_until.isoformat() if info.retain_until else when.isoformat(), "mode": info.mode}
    _record_event(store, settings, record, "retention_extended", user, detail, info.retain_until)
    out.print(f"{skey}: retained until {detail['until']} ({info.mode})", highlight=False)


@storage_app.command("hold")
def hold(
    key: str = typer.Argument(..., help="Stored key, or a record's SHA-256 (its original)."),
    on: bool = typer.Option(..., "--on/--off", help="Set or clear the legal hold."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the record's history)."),
    as_user: Optional[str] = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Set or clear a legal hold: a held object cannot be deleted whatever its retention."""
    from storage import StorageError

    from records.settings import Role

    settings, store, user = _context(as_user)
    skey, version, record = resolve(store, key)
    _user_allowed(settings, store, user, {Role.ARCHIVIST, Role.SUPERVISOR}, "storage.hold", record)
    try:
        info = store.set_legal_hold(skey, on, version_id=version)
    except StorageError as e:
        _fail(str(e))
    detail = {"key": skey, "version_id": info.version_id, "legal_hold": on, "reason": reason}
    _record_event(store, settings, record, "legal_hold_set" if on else "legal_hold_cleared", user, detail,
                  info.retain_until)
    out.print(f"{skey}: legal hold {'ON' if on else 'OFF'}", highlight=False)


@storage_app.command("audit")
def audit(
    sample: float = typer.Option(100.0, "--sample", min=0.001, max=100.0, help="Percent of records to re-hash."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    as_user: Optional[str] = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Fixity audit: re-hash stored originals and compare with their manifests (exit 1 on problems)."""
    from records.settings import Role
    from flows.fixity import fixity_audit

    settings, store, user = _context(as_user)
    _user_allowed(settings, store, user, {Role.AUDITOR, Role.SUPERVISOR, Role.ARCHIVIST}, "storage.audit")
    report = fixity_audit(sample_pct=sample, settings=settings)
    if as_json:
        print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=1, ensure_ascii=False))
    else:
        if report["warning"]:
            out.print(f"[bold yellow]{report['warning']}[/]", highlight=False)
        c = report["counts"]
        out.print(
            f"fixity: {report['checked']} of {report['manifests']} records checked: ok {c['ok']}, "
            f"mismatched {c['mismatch']}, missing {c['missing']}, bad manifests {c['bad-manifest']}, "
            f"errors {c['error']}",
            highlight=False,
        )
        if report["problems"]:
            t = Table("status", "record", "key", "detail")
            for p in report["problems"]:
                t.add_row(p["status"], p["sha256"][:16] + "…", str(p["key"]), p["detail"])
            out.print(t)
        out.print(f"report: {report['paths']['markdown']}", highlight=False)
    if not report["ok"]:
        raise typer.Exit(1)
