"""Operations commands: audit, deadlines, cases, reports and status.

``footage audit verify|show``, ``footage deadline stored``, ``footage case close``,
``footage report compliance|deadlines`` and ``footage status``. Every command that reads or
changes records checks the acting user's role for its action in
:data:`records.roles.ACTION_ROLES` (``--as``, ``FOOTAGE_USER`` or the OS user); a refusal prints
a clear message, exits with :data:`~flows.cli.common.DENIED_EXIT` and is written to the audit log.
``case close`` changes records, so in multi-user mode it is also signed with ``--key`` and the
signature verified before it acts (records/identity.py).

Prefect (``report compliance``, ``status``) and the records modules that import
:mod:`records.settings` or the pydantic models of :mod:`records.manifest` are imported inside the
commands: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from flows.cli.common import (PROBLEM_EXIT, as_option, banner, context, err, key_option, load_settings, out,
                              print_json, signed)
from records.roles import mode_banner

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
deadline_app = typer.Typer(help="Article 29 deadlines on China's working-day calendar.", no_args_is_help=True)
case_app = typer.Typer(help="Cases and their closing dates (filing deadlines).", no_args_is_help=True)
report_app = typer.Typer(help="Compliance and deadline reports.", no_args_is_help=True)


def _parse_since(text: str | None, tz: str) -> datetime | None:
    """``--since``: a date (its midnight in ``tz``) or an ISO datetime (naive: in ``tz``)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=ZoneInfo(tz))
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or datetime", param_hint="--since") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))


# -- audit ----------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    expected_head: Optional[str] = typer.Option(None, "--head", help="Hash the chain must end at (from a report)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    as_user: Optional[str] = as_option(),
) -> None:
    """Re-check the hash chain and every signed event; name the first broken link. Exit 1 when broken."""
    from records.audit import open_audit  # see the module docstring
    from records.identity import ProofCheck

    settings, store, user = context(as_user, "audit.verify")
    v = open_audit(settings, store).verify(expected_head, check=ProofCheck())
    if as_json:
        print_json(v.to_dict(), indent=None)
    else:
        banner(settings, user)
        if v.ok:
            out.print(f"[green]audit log intact[/]: {v.events} events in {v.segments} segments, head {v.head}",
                      highlight=False)
            for o in v.orphans:
                out.print(f"  fork resolved: {o} (its events were re-appended)", highlight=False)
        else:
            out.print(f"[bold red]audit log BROKEN[/] at {v.broken}", highlight=False)
            out.print(f"  checked {v.events} events in {v.segments} segments before it", highlight=False)
            for key in v.erased:
                out.print(f"  erased: {key} (hidden by a delete marker)", highlight=False)
            for f in v.forks:
                out.print(f"  fork at sequence {f.seq}: {f.segment} and {f.rival}", highlight=False)
    if not v.ok:
        raise typer.Exit(PROBLEM_EXIT)


@audit_app.command("show")
def audit_show(
    record: Optional[str] = typer.Option(None, "--record", help="Only events about this record (sha256)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only events at or after this date/datetime."),
    limit: int = typer.Option(0, "--limit", help="Only the newest N events (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    as_user: Optional[str] = as_option(),
) -> None:
    """List audit events, oldest first."""
    from records.audit import open_audit  # see the module docstring

    settings, store, user = context(as_user, "audit.show")
    events = open_audit(settings, store).events(record=record, since=_parse_since(since, settings.time.timezone))
    if limit > 0:
        events = events[-limit:]
    if as_json:
        for e in events:
            print(json.dumps(e, ensure_ascii=False, sort_keys=True))
        return
    banner(settings, user)
    zone = ZoneInfo(settings.time.timezone)
    t = Table(title=f"Audit events ({len(events)})")
    for c in ("At", "Kind", "User", "Record", "Detail", "Hash"):
        t.add_column(c, overflow="fold")
    for e in events:
        at = datetime.fromisoformat(e["at"]).astimezone(zone).isoformat(timespec="seconds")
        detail = json.dumps(e.get("detail") or {}, ensure_ascii=False)
        t.add_row(at, e["kind"], e["user"], (e.get("record") or "")[:16], detail[:120], e["hash"][:12])
    out.print(t)


# -- deadlines and cases --------------------------------------------------------------------------
@deadline_app.command("stored")
def deadline_stored(
    made: str = typer.Option(..., "--made", help="When the footage was made (ISO; no offset = configured zone)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Print the article 29 "stored by" deadline as an ISO datetime in Asia/Shanghai."""
    from records.deadlines import CHINA, stored_by  # see the module docstring

    settings = load_settings()
    try:
        when = datetime.fromisoformat(made)
    except ValueError:
        raise typer.BadParameter(f"{made!r} is not an ISO datetime", param_hint="--made") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(settings.time.timezone))
    due, known = stored_by(when, CHINA)  # the statutory working-day calendar is China's, whatever the display zone
    if as_json:
        print_json({"made": when.isoformat(), "stored_by": due.isoformat(), "calendar_known": known}, indent=None)
        return
    print(due.isoformat())
    if not known:
        err.print("note: the working-day calendar has no data for that year; Monday-Friday assumed", highlight=False)


@case_app.command("close")
def case_close(
    case_id: str = typer.Argument(..., help="The case identifier."),
    closed: str = typer.Option(..., "--date", help="Closing date, YYYY-MM-DD."),
    as_user: Optional[str] = as_option(),
    key_path: Optional[str] = key_option(),
) -> None:
    """Record a case's closing date (its records are due filed 30 days later)."""
    from records.audit import open_audit  # see the module docstring
    from records.deadlines import close_case
    from records.retention import retain_until

    try:
        day = date.fromisoformat(closed)
    except ValueError:
        raise typer.BadParameter(f"{closed!r} is not a date YYYY-MM-DD", param_hint="--date") from None
    settings, store, user = context(as_user, "case.close")
    proof = signed(settings, store, user, "case.close", record=case_id, key=key_path,
                   content={"case": case_id, "closed": day.isoformat()})
    now = datetime.now(timezone.utc)
    closing = close_case(store, case_id, day, user=user,
                         retain_until=retain_until(now, None, settings.storage, ingested=now))
    # the audit event written here rather than by close_case, to keep the signature with it
    detail = closing.audit_detail()
    open_audit(settings, store).append("case_closed", user=user, detail={**detail, "proof": proof} if proof else detail)
    out.print(f"case {case_id} closed on {closing.closed.isoformat()}; records due filed by "
              f"{closing.filed_by.isoformat()}", highlight=False)


# -- reports --------------------------------------------------------------------------------------
@report_app.command("compliance")
def report_compliance(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_user: Optional[str] = as_option(),
) -> None:
    """Build the monthly compliance assessment (zh-CN, en; Markdown, HTML, PNG), store it and
    publish it as a Prefect artifact."""
    from flows.compliance import compliance_flow  # Prefect, see the module docstring
    from records.compliance import month_bounds

    try:
        month_bounds(month, load_settings().time.timezone)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--month") from None
    settings, store, user = context(as_user, "report.compliance")
    banner(settings, user)
    result = compliance_flow(month=month, as_user=user)
    t = Table(title=f"Compliance {month}: totals")
    t.add_column("measure")
    t.add_column("total", justify="right")
    for k, v in result["total"].items():
        t.add_row(k.replace("_", " "), f"{v:.2f}" if isinstance(v, float) else str(v))
    out.print(t)
    for name in ("compliance.zh-CN.html", "compliance.en.html"):
        out.print(f"{name}: {result['files'][name]}", highlight=False)


@report_app.command("deadlines")
def report_deadlines(
    since: Optional[str] = typer.Option(None, "--since", help="Only recordings made at or after this date."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    as_user: Optional[str] = as_option(),
) -> None:
    """List late and at-risk items (article 29) and write reports/<date>/deadlines.{md,json}."""
    from records.deadlines import deadline_report  # see the module docstring
    from records.settings import today
    from reports.deadlines import deadlines_markdown

    settings, store, user = context(as_user, "report.deadlines")
    rep = deadline_report(settings, store, since=_parse_since(since, settings.time.timezone))
    folder = settings.reports / today(settings)
    folder.mkdir(parents=True, exist_ok=True)
    banners = [mode_banner(settings, user), mode_banner(settings, user, lang="zh-CN")]
    md = deadlines_markdown(rep, settings.time.timezone, banners=banners)
    (folder / "deadlines.md").write_text(md, encoding="utf-8")
    (folder / "deadlines.json").write_text(json.dumps(rep.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    if as_json:
        print_json(rep.to_dict(), indent=None)
        return
    banner(settings, user)
    _deadline_table(rep)


def _deadline_table(rep) -> None:
    if not rep.items:
        out.print("[green]no late or at-risk items[/]")
        return
    t = Table(title=f"Late: {len(rep.late)}  At risk: {len(rep.at_risk)}")
    for c in ("State", "Kind", "Item", "Device", "Officer", "Made", "Due", "Late by (h)", "Note"):
        t.add_column(c, overflow="fold")
    style = {"late": "red", "overdue": "bold red", "at_risk": "yellow"}
    for i in rep.items:
        t.add_row(f"[{style.get(i.state, '')}]{i.state}[/]", i.kind, i.short_ref, i.device or "", i.officer or "",
                  i.made or "", i.due + ("" if i.calendar_known else " (Mon-Fri)"),
                  "" if i.late_by_hours is None else f"{i.late_by_hours:.1f}", i.note)
    out.print(t)
    if not rep.calendar_known:
        out.print("note: a year outside the working-day calendar's data was met; Monday-Friday assumed there")


# -- status ---------------------------------------------------------------------------------------
def flow_run_summary(limit: int = 15, days: int = 7) -> dict[str, Any]:
    """Recent flow runs and failures from Prefect's API."""
    # Prefect, see the module docstring
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    after = datetime.now(timezone.utc) - timedelta(days=days)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        failed = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=after),
        )
        failures = client.read_flow_runs(flow_run_filter=failed, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=50)
        names: dict[Any, str] = {}
        for r in list(runs) + list(failures):
            if r.flow_id not in names:
                try:
                    names[r.flow_id] = client.read_flow(r.flow_id).name
                except Exception:  # a flow deleted since: show its id
                    names[r.flow_id] = str(r.flow_id)

    def row(r) -> dict[str, Any]:
        when = r.start_time or r.expected_start_time
        return {
            "flow": names.get(r.flow_id, ""),
            "run": r.name,
            "id": str(r.id),
            "state": r.state.name if r.state else "",
            "type": r.state.type.value if r.state else "",
            "start": when.isoformat() if when else None,
            "seconds": round(r.total_run_time.total_seconds(), 1) if r.total_run_time else None,
        }

    return {"runs": [row(r) for r in runs], "failures": [row(r) for r in failures], "days": days}


def quarantine_count(settings) -> int:
    """Files set aside by ingest: one JSON reason each (else count the files)."""
    q = settings.quarantine
    if not q.is_dir():
        return 0
    files = [p for p in q.rglob("*") if p.is_file()]
    reasons = [p for p in files if p.name.endswith(".reason.json")]
    return len(reasons) if reasons else len([p for p in files if p.suffix != ".json"])


def status(
    limit: int = typer.Option(15, "--limit", help="How many recent flow runs to show."),
    days: int = typer.Option(7, "--days", help="Count failures over this many days."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    as_user: Optional[str] = as_option(),
) -> None:
    """Recent flow runs, failures, quarantine count and late items (from Prefect's API)."""
    from records.deadlines import deadline_report  # see the module docstring

    settings, store, user = context(as_user, "status")
    from flows.cli.disclose import stuck_disclosures

    try:
        runs = flow_run_summary(limit, days)
        runs["disclosures"] = stuck_disclosures()  # waiting runs nothing picks up, expired, failed
        api_error = None
    except Exception as e:  # the API unreachable must not hide the local facts
        runs, api_error = {"runs": [], "failures": [], "days": days, "disclosures": []}, f"{type(e).__name__}: {e}"
    rep = deadline_report(settings, store)
    doc = {
        **runs,
        "api_error": api_error,
        "quarantined": quarantine_count(settings),
        "late": len(rep.late),
        "at_risk": len(rep.at_risk),
    }
    if as_json:
        print_json(doc, indent=None)
        return
    banner(settings, user)
    t = Table(title="Recent flow runs")
    for c in ("Flow", "Run", "State", "Start", "Seconds"):
        t.add_column(c)
    colour = {"COMPLETED": "green", "FAILED": "red", "CRASHED": "red", "RUNNING": "cyan", "CANCELLED": "yellow"}
    for r in doc["runs"]:
        t.add_row(r["flow"], r["run"], f"[{colour.get(r['type'], 'white')}]{r['state']}[/]", r["start"] or "",
                  "" if r["seconds"] is None else str(r["seconds"]))
    out.print(t)
    s = Table(title="Status", show_header=False)
    s.add_column("what")
    s.add_column("value", justify="right")
    s.add_row(f"Failed or crashed runs (last {days} days)", str(len(doc["failures"])))
    s.add_row("Quarantined files", str(doc["quarantined"]))
    s.add_row("Late or overdue items (article 29)", str(doc["late"]))
    s.add_row("At-risk items", str(doc["at_risk"]))
    s.add_row("Disclosures needing attention", str(len(doc["disclosures"])))
    out.print(s)
    for d in doc["disclosures"]:
        out.print(f"[yellow]disclosure {d['id']}[/] ({d['state']}): {d['problem']}", highlight=False)
    if api_error:
        err.print(f"[yellow]Prefect API not reachable:[/] {api_error}", highlight=False)
