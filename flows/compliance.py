"""The monthly compliance assessment (article 33) and the deadlines artifact.

Per officer and per device: recordings, hours, sessions, unexplained interruptions, missing
opening statements, late uploads (article 29), quarantined files and disclosures, read from the
per-recording manifests in the store, the ingest run reports and the audit log. The report is
written in zh-CN and en, as Markdown and as self-contained HTML with PNG charts, kept in
``reports/compliance/<month>/`` and in the store, and published as a Prefect artifact.

Where the counts come from (the contract with the other flows):

* recordings, hours, officer, device: ``manifests/<sha256>.json`` (``start``, ``duration``,
  ``device_id``, ``officer_id``), counted in the month the recording was *made* (China time);
* sessions: the manifest's ``session`` id when present, else recordings of one device split by
  ``segment.session_break_s``;
* unexplained interruptions / missing opening statements: manifest ``events`` (and
  ``session_events``) of kind ``unexplained_interruption`` / ``missing_opening_statement`` whose
  ``detail`` has no ``explanation``;
* late uploads: stored (``ingested_at``) after the article 29 deadline (:mod:`flows.deadlines`);
* quarantined: ``quarantined`` entries of ``reports/<YYYY-MM-DD>/ingest.json`` and
  ``quarantined`` audit events (``detail.file``), one per file name, attributed through the
  file-name patterns;
* disclosures: ``released`` or ``disclosure_released`` audit events, attributed through the
  record's manifest.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storage import ObjectStore

from .deadlines import State, classify, manifest_made, manifest_stored, manifests

UNKNOWN = "unknown"
INTERRUPTION = "unexplained_interruption"
OPENING = "missing_opening_statement"
DISCLOSURE_KINDS = ("released", "disclosure_released")  # the disclosure flow prefixes its kinds
LANGS = ("zh-CN", "en")


@dataclass
class Row:
    recordings: int = 0
    hours: float = 0.0
    sessions: int = 0
    unexplained_interruptions: int = 0
    missing_opening_statements: int = 0
    late_uploads: int = 0
    quarantined: int = 0
    disclosures: int = 0

    def add(self, other: "Row") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


COLUMN_TITLES = {
    "en": {
        "recordings": "Recordings",
        "hours": "Hours",
        "sessions": "Sessions",
        "unexplained_interruptions": "Unexplained interruptions",
        "missing_opening_statements": "Missing opening statements",
        "late_uploads": "Late uploads",
        "quarantined": "Quarantined files",
        "disclosures": "Disclosures",
    },
    "zh-CN": {
        "recordings": "录像数",
        "hours": "时长（小时）",
        "sessions": "执法过程数",
        "unexplained_interruptions": "未说明的中断",
        "missing_opening_statements": "缺少开场告知",
        "late_uploads": "逾期存储",
        "quarantined": "隔离文件",
        "disclosures": "公开/调阅",
    },
}

TEXT = {
    "en": {
        "title": "Compliance assessment {month}",
        "intro": "Whole-process recording of administrative law enforcement: assessment of {month} "
        "(article 33), generated {generated}.",
        "officer": "Officer",
        "device": "Device",
        "by_officer": "By officer",
        "by_device": "By device",
        "total": "Total",
        "charts": "Charts",
        "hours_chart": "Recorded hours by officer",
        "issues_chart": "Findings by device",
        "calendar": "**Note:** a year outside the `chinese-calendar` data was met; working days there "
        "were counted Monday-Friday.",
        "audit": "Audit log: {events} events in {segments} segments, chain {state}, head `{head}`.",
        "ok": "intact",
        "broken": "BROKEN at {where}",
        "nofont": "**Note:** no CJK font was found; Chinese labels in charts may not render.",
        "sources": "Sources: {manifests} manifests, {reports} ingest reports, audit log.",
    },
    "zh-CN": {
        "title": "{month} 执法全过程记录考核",
        "intro": "行政执法全过程记录：{month} 考核评议（第三十三条），生成于 {generated}。",
        "officer": "执法人员",
        "device": "记录设备",
        "by_officer": "按执法人员",
        "by_device": "按记录设备",
        "total": "合计",
        "charts": "图表",
        "hours_chart": "各执法人员录像时长（小时）",
        "issues_chart": "各设备发现的问题",
        "calendar": "**注意：** 涉及 `chinese-calendar` 尚无数据的年份，该年份按周一至周五计算工作日。",
        "audit": "审计日志：{segments} 个分段共 {events} 条事件，哈希链{state}，链头 `{head}`。",
        "ok": "完整",
        "broken": "断裂于 {where}",
        "nofont": "**注意：** 未找到中文字体，图表中的中文可能无法显示。",
        "sources": "数据来源：{manifests} 份录像清单、{reports} 份入库报告、审计日志。",
    },
}


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of ``YYYY-MM`` in zone ``tz``."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    y, mo = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(tz)
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: datetime | None = None, tz: str = "Asia/Shanghai") -> str:
    now = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz))
    first = now.date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


# -- gathering ----------------------------------------------------------------------------------
@dataclass
class ComplianceData:
    month: str
    generated: str
    officers: dict[str, Row] = field(default_factory=dict)
    devices: dict[str, Row] = field(default_factory=dict)
    total: Row = field(default_factory=Row)
    calendar_known: bool = True
    manifests: int = 0
    ingest_reports: int = 0
    audit: dict[str, Any] = field(default_factory=dict)
    banner: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("officers", "devices"):
            d[k] = {name: asdict(r) for name, r in sorted(getattr(self, k).items())}
        return d


def _open_findings(m: dict[str, Any], kind: str) -> int:
    n = 0
    for e in list(m.get("events") or []) + list(m.get("session_events") or []):
        if isinstance(e, dict) and e.get("kind") == kind and not (e.get("detail") or {}).get("explanation"):
            n += 1
    return n


def _sessions(recs: list[dict[str, Any]], session_break: timedelta) -> dict[str, str]:
    """sha256 -> session id, per device: the manifest's own id, else split at long breaks."""
    out: dict[str, str] = {}
    by_device: dict[str, list[dict[str, Any]]] = {}
    for m in recs:
        if m.get("session"):
            out[m["sha256"]] = str(m["session"])
        else:
            by_device.setdefault(m.get("device_id") or UNKNOWN, []).append(m)
    for device, items in by_device.items():
        items.sort(key=manifest_made)
        sid, end = None, None
        for m in items:
            start = manifest_made(m)
            if sid is None or start - end > session_break:
                sid = f"{device}-{start:%Y%m%dT%H%M%S}"
                end = start
            end = max(end, start + timedelta(seconds=float(m.get("duration") or 0)))
            out[m["sha256"]] = sid
    return out


def _ingest_reports(settings, store: ObjectStore, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Ingest run reports dated inside the month: on disk under ``reports/`` and in the store."""
    first, last = start.date(), (end - timedelta(seconds=1)).date()
    found: dict[str, dict[str, Any]] = {}
    dated = re.compile(r"(\d{4}-\d{2}-\d{2})")

    def in_month(text: str) -> bool:
        m = dated.search(text)
        return bool(m) and first <= date.fromisoformat(m.group(1)) <= last

    if settings.reports.is_dir():
        for p in sorted(settings.reports.glob("*/ingest*.json")):
            if in_month(p.parent.name):
                try:
                    found[str(p)] = json.loads(p.read_text())
                except ValueError:
                    pass
    for info in store.list("reports/"):
        if re.search(r"/ingest[^/]*\.json$", info.key) and in_month(info.key):
            try:
                found[info.key] = json.loads(store.get_bytes(info.key))
            except ValueError:
                pass
    return list(found.values())


def gather(
    settings,
    store: ObjectStore,
    month: str,
    *,
    audit=None,
    now: datetime | None = None,
    user: str | None = None,
) -> ComplianceData:
    """Count everything the report shows (see the module docstring for the sources)."""
    from media.timeinfo import from_filename

    from .audit import open_audit
    from .roles import mode_banner

    tz = settings.time.timezone
    zone = ZoneInfo(tz)
    start, end = month_bounds(month, tz)
    now = now or datetime.now(timezone.utc)
    audit = audit if audit is not None else open_audit(settings, store)
    data = ComplianceData(month=month, generated=now.astimezone(zone).isoformat(timespec="seconds"))
    for lang in LANGS:
        b = mode_banner(settings, user, lang)
        if b:
            data.banner[lang] = b

    def row(table: dict[str, Row], name: str | None) -> Row:
        return table.setdefault(name or UNKNOWN, Row())

    everything = {m["sha256"]: m for m in manifests(store)}
    month_recs = [m for m in everything.values() if start <= manifest_made(m) < end]
    data.manifests = len(month_recs)
    session_of = _sessions(month_recs, settings.session_break)
    officer_sessions: dict[str, set[str]] = {}
    device_sessions: dict[str, set[str]] = {}
    for m in month_recs:
        r = Row(recordings=1, hours=float(m.get("duration") or 0) / 3600.0)
        r.unexplained_interruptions = _open_findings(m, INTERRUPTION)
        r.missing_opening_statements = _open_findings(m, OPENING)
        d = classify(manifest_made(m), manifest_stored(m) or now, now, tz=tz)
        data.calendar_known &= d.calendar_known
        r.late_uploads = int(d.state is State.LATE)
        officer, device = m.get("officer_id") or UNKNOWN, m.get("device_id") or UNKNOWN
        row(data.officers, officer).add(r)
        row(data.devices, device).add(r)
        data.total.add(r)
        officer_sessions.setdefault(officer, set()).add(session_of[m["sha256"]])
        device_sessions.setdefault(device, set()).add(session_of[m["sha256"]])
    for name, s in officer_sessions.items():
        data.officers[name].sessions = len(s)
    for name, s in device_sessions.items():
        data.devices[name].sessions = len(s)
    data.total.sessions = len(set(session_of.values()))

    # quarantined files: ingest reports of the month, plus audit events; one per file name
    quarantined: set[str] = set()
    reports = _ingest_reports(settings, store, start, end)
    data.ingest_reports = len(reports)
    for rep in reports:
        for q in rep.get("quarantined") or []:
            name = q.get("file") if isinstance(q, dict) else str(q)
            if name:
                quarantined.add(Path(name).name)
    month_events = [e for e in audit.events(since=start) if datetime.fromisoformat(e["at"]) < end]
    for e in month_events:
        if e["kind"] == "quarantined" and (e.get("detail") or {}).get("file"):
            quarantined.add(Path(e["detail"]["file"]).name)
    for name in sorted(quarantined):
        who = from_filename(name, settings.time.filename_patterns, zone) or {}
        for table, key in ((data.officers, who.get("officer")), (data.devices, who.get("device"))):
            row(table, key).quarantined += 1
        data.total.quarantined += 1

    for e in month_events:
        if e["kind"] in DISCLOSURE_KINDS:
            m = everything.get(e.get("record") or "", {})
            row(data.officers, m.get("officer_id")).disclosures += 1
            row(data.devices, m.get("device_id")).disclosures += 1
            data.total.disclosures += 1

    v = audit.verify()
    data.audit = {"ok": v.ok, "events": v.events, "segments": v.segments, "head": v.head,
                  "broken": str(v.broken) if v.broken else None}
    return data


# -- rendering ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Register a CJK font with matplotlib (Debian's fonts-noto-cjk) and return its family name."""
    import os

    from matplotlib import font_manager

    candidates = [os.environ.get("FOOTAGE_CJK_FONT", "")]
    for root in ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts")):
        if Path(root).is_dir():
            found = sorted(Path(root).rglob("*CJK*.tt[cf]")) + sorted(Path(root).rglob("*CJK*.otf"))
            # Sans Regular first: it reads best at chart sizes
            found.sort(key=lambda p: ("Sans" not in p.name, "Regular" not in p.name, p.name))
            candidates += [str(p) for p in found]
    for path in candidates:
        if path and Path(path).is_file():
            try:
                font_manager.fontManager.addfont(path)
                return font_manager.FontProperties(fname=path).get_name()
            except (RuntimeError, OSError, ValueError):
                continue
    return None


def render_charts(data: ComplianceData, outdir: Path, lang: str) -> dict[str, str]:
    """Two PNG charts (hours per officer, findings per device); returns name -> file name."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in worker threads
    from matplotlib.ticker import MaxNLocator

    family = cjk_font()
    rc = {"font.family": [family, "DejaVu Sans"] if family else ["DejaVu Sans"]}
    t, cols = TEXT[lang], COLUMN_TITLES[lang]
    out: dict[str, str] = {}
    import matplotlib

    with matplotlib.rc_context(rc):
        names = sorted(data.officers)
        fig = Figure(figsize=(7, 0.5 + 0.4 * max(len(names), 3)), dpi=100)
        ax = fig.add_subplot()
        ax.barh(names, [data.officers[n].hours for n in names], color="#4C72B0")
        ax.set_title(t["hours_chart"])
        ax.set_xlabel(cols["hours"])
        ax.invert_yaxis()
        fig.tight_layout()
        name = f"hours.{lang}.png"
        fig.savefig(outdir / name)
        out["hours"] = name

        devices = sorted(data.devices)
        keys = ["unexplained_interruptions", "missing_opening_statements", "late_uploads", "quarantined"]
        fig = Figure(figsize=(8, 1.2 + 0.5 * max(len(devices), 3)), dpi=100)
        ax = fig.add_subplot()
        h = 0.8 / len(keys)
        for i, k in enumerate(keys):
            ax.barh([j + i * h for j in range(len(devices))], [getattr(data.devices[d], k) for d in devices],
                    height=h, label=cols[k])
        ax.set_yticks([j + 0.4 - h / 2 for j in range(len(devices))], devices)
        ax.invert_yaxis()
        ax.set_title(t["issues_chart"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts, not fractions
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(keys), frameon=False)
        fig.tight_layout()
        name = f"findings.{lang}.png"
        fig.savefig(outdir / name)
        out["findings"] = name
    return out


def _fmt(key: str, value: Any) -> str:
    return f"{value:.2f}" if key == "hours" else str(value)


def _table(title: str, rows: dict[str, Row], total: Row, lang: str) -> list[str]:
    cols = COLUMN_TITLES[lang]
    keys = [f.name for f in fields(Row)]
    lines = ["| " + " | ".join([title] + [cols[k] for k in keys]) + " |", "|" + "---|" * (len(keys) + 1)]
    for name in sorted(rows):
        cell = name.replace("|", "\\|")  # an id with a pipe must not split the Markdown row
        lines.append("| " + " | ".join([cell] + [_fmt(k, getattr(rows[name], k)) for k in keys]) + " |")
    lines.append("| " + " | ".join([f"**{TEXT[lang]['total']}**"] + [_fmt(k, getattr(total, k)) for k in keys]) + " |")
    return lines


def render_markdown(data: ComplianceData, lang: str, charts: dict[str, str] | None = None) -> str:
    t = TEXT[lang]
    lines: list[str] = []
    if lang in data.banner:  # single-user mode says so in its first lines
        lines += [f"> {data.banner[lang]}", ""]
    lines += [f"# {t['title'].format(month=data.month)}", "", t["intro"].format(month=data.month, generated=data.generated), ""]
    if not data.calendar_known:
        lines += [t["calendar"], ""]
    a = data.audit
    if a:
        state = t["ok"] if a.get("ok") else t["broken"].format(where=a.get("broken"))
        lines += [t["audit"].format(events=a["events"], segments=a["segments"], state=state, head=a["head"]), ""]
    lines += [t["sources"].format(manifests=data.manifests, reports=data.ingest_reports), ""]
    # the per-officer total is the same as the per-device total: every row is counted once in each
    lines += [f"## {t['by_officer']}", ""] + _table(t["officer"], data.officers, data.total, lang) + [""]
    lines += [f"## {t['by_device']}", ""] + _table(t["device"], data.devices, data.total, lang) + [""]
    if charts:
        lines += [f"## {t['charts']}", ""]
        if cjk_font() is None:
            lines += [t["nofont"], ""]
        lines += [f"![{t['hours_chart']}]({charts['hours']})", "", f"![{t['issues_chart']}]({charts['findings']})", ""]
    return "\n".join(lines)


def render_html(markdown_text: str, lang: str, title: str, outdir: Path) -> str:
    """Self-contained HTML: the Markdown rendered, charts inlined as data URIs."""
    from markdown_it import MarkdownIt  # CommonMark renderer that Rich already depends on

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)

    def inline(m: re.Match) -> str:
        p = outdir / m.group(1)
        if not p.is_file():
            return m.group(0)
        return 'src="data:image/png;base64,' + base64.b64encode(p.read_bytes()).decode() + '"'

    body = re.sub(r'src="([^"/]+\.png)"', inline, body)
    style = ("body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;margin:2em;max-width:80em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.3em .6em;"
             "text-align:right}td:first-child,th:first-child{text-align:left}blockquote{background:#fff3cd;"
             "margin:0;padding:.5em 1em}img{max-width:100%}")
    import html

    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")


@dataclass
class ComplianceReport:
    data: ComplianceData
    files: dict[str, Path]
    stored: dict[str, str]  # file name -> object key
    markdown: dict[str, str]


def build_report(
    settings,
    store: ObjectStore,
    month: str,
    *,
    user: str | None = None,
    audit=None,
    now: datetime | None = None,
    outdir: Path | None = None,
    keep: bool = True,
) -> ComplianceReport:
    """Gather, render (zh-CN and en, Markdown, HTML, PNG), write under ``reports/compliance/<month>``
    and, with ``keep``, store every file under ``reports/compliance/<month>/<generated>/``."""
    from .retention import retain_until

    now = now or datetime.now(timezone.utc)
    data = gather(settings, store, month, audit=audit, now=now, user=user)
    outdir = outdir or settings.reports / "compliance" / month
    outdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    md: dict[str, str] = {}
    for lang in LANGS:
        charts = render_charts(data, outdir, lang)
        for name in charts.values():
            files[name] = outdir / name
        md[lang] = render_markdown(data, lang, charts)
        for ext, text in (("md", md[lang]), ("html", render_html(md[lang], lang, TEXT[lang]["title"].format(month=month), outdir))):
            p = outdir / f"compliance.{lang}.{ext}"
            p.write_text(text, encoding="utf-8")
            files[p.name] = p
    p = outdir / "compliance.json"
    p.write_text(json.dumps(data.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    files[p.name] = p
    stored: dict[str, str] = {}
    if keep:
        until = retain_until(now, None, settings.storage, ingested=now)
        stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for name, path in sorted(files.items()):
            key = f"reports/compliance/{month}/{stamp}/{name}"
            store.put(key, path, retain_until=until, mode=settings.storage.mode)
            stored[name] = key
    return ComplianceReport(data, files, stored, md)


def artifact_markdown(report: ComplianceReport) -> str:
    """Both languages for the Prefect UI (charts are files: the artifact names where they are)."""
    parts = []
    for lang in LANGS:
        text = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f"*{m.group(1)}: `{report.files[m.group(2)]}`*",
                      report.markdown[lang])
        parts.append(text)
    where = "\n".join(f"- `{n}` -> `{k}`" for n, k in sorted(report.stored.items()))
    return "\n\n---\n\n".join(parts) + ("\n\n### Stored objects\n\n" + where if where else "") + "\n"


def _artifact_key(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


# -- Prefect flows ------------------------------------------------------------------------------
from prefect import flow  # noqa: E402  (after the pure functions above, which tests use without Prefect)
from prefect.artifacts import create_markdown_artifact  # noqa: E402


@flow(name="compliance-report", log_prints=False)
def compliance_flow(month: str | None = None, as_user: str | None = None) -> dict[str, Any]:
    """Build, store and publish the compliance report of ``month`` (default: the previous month,
    which is what the monthly schedule wants)."""
    from .config import load_settings
    from .roles import acting_user, require_action
    from .stores import open_store

    settings = load_settings()
    store = open_store(settings)
    user = acting_user(as_user)
    require_action(settings, user, "report.compliance", store)
    month = month or previous_month(tz=settings.time.timezone)
    report = build_report(settings, store, month, user=user)
    create_markdown_artifact(
        key=_artifact_key(f"compliance-{month}"),
        markdown=artifact_markdown(report),
        description=f"Compliance assessment {month} (zh-CN, en)",
    )
    return {
        "month": month,
        "files": {k: str(v) for k, v in report.files.items()},
        "stored": report.stored,
        "total": asdict(report.data.total),
    }


@flow(name="deadlines-report", log_prints=False)
def deadlines_flow(as_user: str | None = None) -> dict[str, Any]:
    """Publish late and at-risk items (article 29) as a Prefect artifact."""
    from .config import load_settings
    from .deadlines import deadline_report
    from .roles import acting_user, mode_banner, require_action
    from .stores import open_store

    settings = load_settings()
    store = open_store(settings)
    user = acting_user(as_user)
    require_action(settings, user, "report.deadlines", store)
    rep = deadline_report(settings, store)
    create_markdown_artifact(key="deadlines", markdown=rep.to_markdown(mode_banner(settings, user)),
                             description="Late and at-risk items (article 29)")
    return rep.to_dict()




def deployments(settings) -> list[Any]:
    """What ``footage serve`` adds (``flows.schedules.EXTRA_DEPLOYMENTS``): the previous month's
    compliance report at 03:00 on the 1st, China time."""
    from prefect.schedules import Cron

    return [
        compliance_flow.to_deployment(
            name="monthly-compliance",
            schedules=[Cron(settings.schedule.compliance_cron, timezone=settings.schedule.timezone)],
            description="Compliance assessment of the previous month (article 33).",
            tags=["footage"],
        )
    ]

