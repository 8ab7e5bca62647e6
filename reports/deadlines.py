"""The article 29 deadlines report as people read it: bilingual (zh-CN / en) Markdown of a
:class:`records.deadlines.DeadlineReport`, every time in the configured zone.

It is written as ``reports/<date>/deadlines.md`` by ``footage report deadlines``, published as a
Prefect artifact by the ``deadlines-report`` flow and appended to each ingest report.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from records.deadlines import DeadlineReport, Item
from reports.tables import markdown_table
from reports.times import local_time

__all__ = ["deadlines_markdown"]

STATES = {
    "late": "迟延存储 / late",
    "overdue": "逾期未存储 / overdue",
    "at_risk": "临近期限 / at risk",
    "pending": "未到期 / pending",
    "on_time": "按时 / on time",
}
KINDS = {"recording": "录像 / recording", "inbox": "收件箱 / inbox", "quarantine": "隔离区 / quarantine",
         "case": "案件 / case"}
HEADERS = ["状态 / state", "类型 / kind", "项目 / item", "设备 / device", "执法人员 / officer", "拍摄 / made",
           "存储 / stored", "期限 / due", "超出（小时） / late by (h)", "说明 / note"]


def _row(i: Item, zone: ZoneInfo) -> list[str]:
    due = local_time(i.due, zone) + ("" if i.calendar_known else " (周一至周五 / Mon-Fri)")
    late = "" if i.late_by_hours is None else f"{i.late_by_hours:.1f}"
    return [STATES.get(i.state, i.state), KINDS.get(i.kind, i.kind), i.short_ref, i.device or "", i.officer or "",
            local_time(i.made, zone), local_time(i.stored, zone), due, late, i.note]


def deadlines_markdown(report: DeadlineReport, tz: str, *, banners: Iterable[str | None] = (), level: int = 1) -> str:
    """Late and at-risk items as Markdown, zh-CN and en side by side.

    Parameters
    ----------
    report : DeadlineReport
        What :func:`records.deadlines.deadline_report` found.
    tz : str
        The configured zone (``settings.time.timezone``): every time is shown in it.
    banners : iterable of str or None
        Warnings to put first as quotes (single-user mode, an unlocked bucket); None is skipped.
    level : int
        Heading level of the title (2 when the report is a section of another, the ingest report).

    Returns
    -------
    str
        The Markdown, ending with a newline.
    """
    zone = ZoneInfo(tz)
    lines = []
    for banner in banners:
        if banner:
            lines += [f"> {banner}", ""]
    lines += [
        "#" * level + " 存储期限（第二十九条） / Deadlines (article 29)",
        "",
        f"生成于 / generated: {local_time(report.generated, zone)} ({tz})",
        "",
    ]
    if not report.calendar_known:
        lines += [
            "**注意 / Note:** 涉及 `chinese-calendar` 尚无数据的年份，该年份按周一至周五计算工作日，未计节假日和调休。"
            " / A year outside the `chinese-calendar` data was met; for it, working days were counted "
            "Monday-Friday, without holidays or adjusted working weekends.",
            "",
        ]
    lines += [f"迟延或逾期 / late or overdue: **{len(report.late)}**；"
              f"临近期限 / at risk: **{len(report.at_risk)}**。", ""]
    if report.items:
        lines.append(markdown_table(HEADERS, [_row(i, zone) for i in report.items]).rstrip("\n"))
    return "\n".join(lines) + "\n"
