"""The bilingual deadlines report: Markdown from a DeadlineReport, times in the configured zone."""

from __future__ import annotations

from records.deadlines import DeadlineReport, Item
from reports.deadlines import deadlines_markdown


def _report(calendar_known: bool = True) -> DeadlineReport:
    return DeadlineReport(
        generated="2026-10-12T02:30:00+00:00",
        calendar_known=calendar_known,
        items=[
            Item("recording", "e1" * 32, "late", "2026-10-09T23:59:59+08:00", True, "2026-09-30T02:00:00+00:00",
                 "2026-10-12T01:00:00+00:00", "D1", "P|001", 57.0, "note\nwith a break"),
            Item("case", "K-1", "at_risk", "2026-10-14T23:59:59+08:00", calendar_known, note="closed 2026-09-14"),
        ],
    )


def test_times_in_the_configured_zone_and_both_languages():
    md = deadlines_markdown(_report(), "Asia/Shanghai")
    assert md.startswith("# 存储期限（第二十九条） / Deadlines (article 29)\n")
    assert "生成于 / generated: 2026-10-12 10:30:00 (Asia/Shanghai)" in md
    assert "迟延或逾期 / late or overdue: **1**；临近期限 / at risk: **1**。" in md
    row = next(line for line in md.splitlines() if "e1e1" in line)
    assert row == ("| 迟延存储 / late | 录像 / recording | e1e1e1e1e1e1e1e1 | D1 | P\\|001 | 2026-09-30 10:00:00 | "
                   "2026-10-12 09:00:00 | 2026-10-09 23:59:59 | 57.0 | note with a break |")


def test_another_zone_moves_every_time():
    md = deadlines_markdown(_report(), "UTC")
    assert "generated: 2026-10-12 02:30:00 (UTC)" in md
    assert "| 2026-09-30 02:00:00 | 2026-10-12 01:00:00 | 2026-10-09 15:59:59 |" in md


def test_banners_first_and_section_level():
    md = deadlines_markdown(_report(calendar_known=False), "Asia/Shanghai",
                            banners=["Single-user mode", None, "单用户模式"], level=2)
    assert md.startswith("> Single-user mode\n\n> 单用户模式\n\n## 存储期限")
    assert "Monday-Friday" in md and "周一至周五" in md
    assert "2026-10-14 23:59:59 (周一至周五 / Mon-Fri)" in md
