"""The monthly compliance assessment as people read it: zh-CN and en Markdown, self-contained HTML
and PNG charts, from :class:`records.compliance.ComplianceData`."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage import ObjectStore

from records.keys import compliance_report_key
from records.retention import retain_until
from records.compliance import LANGS, ComplianceData, Row, gather
from reports.fonts import cjk_font, cjk_fonts
from reports.tables import markdown_table

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


def render_charts(data: ComplianceData, outdir: Path, lang: str) -> dict[str, str]:
    """Two PNG charts (hours per officer, findings per device); returns name -> file name."""
    # matplotlib only when drawing (a second of start-up); no pyplot: no global state, safe in worker threads
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    t, cols = TEXT[lang], COLUMN_TITLES[lang]
    out: dict[str, str] = {}
    with cjk_fonts():
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
    body = [[name] + [_fmt(k, getattr(rows[name], k)) for k in keys] for name in sorted(rows)]
    body.append([f"**{TEXT[lang]['total']}**"] + [_fmt(k, getattr(total, k)) for k in keys])
    return markdown_table([title] + [cols[k] for k in keys], body).splitlines()


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
        for name, path in sorted(files.items()):
            key = compliance_report_key(month, now, name)
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


