"""The monthly compliance report over generated manifests, reports and audit events with known
counts, in both languages, with charts."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from records.audit import open_audit
from records.explanations import store_explanation
from records.compliance import Row, gather, month_bounds, previous_month
from reports.compliance import build_report, cjk_font

CN = ZoneInfo("Asia/Shanghai")
H = 3600.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CN)


@pytest.fixture
def october(settings, store, manifest_writer):
    """October 2026 in China time, with every count known."""
    w = manifest_writer
    # findings as the ingest flow writes them: rows of the session's gap report
    w("a1" * 32, start=at("2026-10-08T09:00:00"), duration=1800, device="D1", officer="P001", session="S1",
      findings=[{"kind": "missing_opening_statement", "id": "opening", "start": 0.0, "end": 60.0, "explanation": None}])
    w("a2" * 32, start=at("2026-10-08T09:30:05"), duration=1800, device="D1", officer="P001", session="S1",
      findings=[{"kind": "unexplained_interruption", "id": "gap-20261008T093000", "explanation": None}])
    # made in September, uploaded late in October: counts for September, not here
    w("a3" * 32, start=at("2026-09-30T10:00:00"), duration=600, device="D1", officer="P001",
      ingested=at("2026-10-10T09:00:00"))
    # uploaded after its deadline (due 2026-10-14); its interruption was explained in writing
    w("a4" * 32, start=at("2026-10-12T14:00:00"), duration=3600, device="D2", officer="P002", session="S2",
      ingested=at("2026-10-20T09:00:00"),
      findings=[{"kind": "unexplained_interruption", "id": "gap-20261012T150000",
                 "explanation": {"text": "battery swap", "by": "P002", "at": "2026-10-12T08:00:00+00:00"}}])
    # same session; its missing opening statement was explained in writing after it was stored
    w("a5" * 32, start=at("2026-10-12T14:20:00"), duration=600, device="D2", officer="P002", session="S2",
      findings=[{"kind": "missing_opening_statement", "id": "opening", "explanation": None}])
    store_explanation(store, settings, "S2", "opening", "statement given before the camera started", "P002")
    # the month's last minutes in China (already 31 Oct 15:30 in UTC) and the first of November
    w("a6" * 32, start=at("2026-10-31T23:30:00"), duration=1200, device="D2", officer="P001")
    w("a7" * 32, start=at("2026-11-01T00:10:00"), duration=1200, device="D2", officer="P001")

    for day, names in {
        "2026-10-05": ["D1_P001_20261005080000_0001.MP4", "junk.txt"],
        "2026-11-02": ["D2_P002_20261101080000_0003.MP4"],
    }.items():
        folder = settings.reports / day
        folder.mkdir(parents=True)
        (folder / "ingest.json").write_text(json.dumps(
            {"seen": 3, "quarantined": [{"file": n, "reason": "truncated", "message": ""} for n in names]}))
    open_audit(settings, store).append_many([
        {"kind": "quarantined", "user": "olga", "at": at("2026-10-05T02:00:00"),
         "detail": {"file": "D1_P001_20261005080000_0001.MP4"}},  # also in the report: counted once
        {"kind": "quarantined", "user": "olga", "at": at("2026-10-15T02:00:00"),
         "detail": {"file": "D2_P002_20261015120000_0002.MP4"}},
        {"kind": "disclosure_released", "user": "arne", "record": "a4" * 32, "at": at("2026-10-20T10:00:00")},
        {"kind": "released", "user": "arne", "record": "a1" * 32, "at": at("2026-11-03T10:00:00")},
    ])


def _check(row: Row, recordings, hours, sessions, interruptions, openings, late, quarantined, disclosures):
    assert (row.recordings, row.sessions, row.unexplained_interruptions, row.missing_opening_statements,
            row.late_uploads, row.quarantined, row.disclosures) == (
        recordings, sessions, interruptions, openings, late, quarantined, disclosures)
    assert row.hours == pytest.approx(hours)


def test_counts_match_the_generated_data(settings, store, october):
    data = gather(settings, store, "2026-10")
    assert data.manifests == 5 and data.ingest_reports == 1
    assert sorted(data.officers) == ["P001", "P002", "unknown"]
    _check(data.officers["P001"], 3, 4800 / H, 2, 1, 1, 0, 1, 0)
    _check(data.officers["P002"], 2, 4200 / H, 1, 0, 0, 1, 1, 1)
    _check(data.officers["unknown"], 0, 0, 0, 0, 0, 0, 1, 0)
    _check(data.devices["D1"], 2, 3600 / H, 1, 1, 1, 0, 1, 0)
    _check(data.devices["D2"], 3, 5400 / H, 2, 0, 0, 1, 1, 1)
    _check(data.total, 5, 9000 / H, 3, 1, 1, 1, 3, 1)
    assert data.audit["ok"] and data.audit["events"] == 4
    assert data.calendar_known


def test_report_files_in_both_languages(settings, store, october):
    from PIL import Image

    rep = build_report(settings, store, "2026-10", user="olga")
    names = set(rep.files)
    for lang in ("zh-CN", "en"):
        assert {f"compliance.{lang}.md", f"compliance.{lang}.html", f"hours.{lang}.png", f"findings.{lang}.png"} <= names
        with Image.open(rep.files[f"hours.{lang}.png"]) as im:
            assert im.format == "PNG" and im.width > 300
    zh, en = rep.markdown["zh-CN"], rep.markdown["en"]
    # single-user mode is said in the first lines
    assert zh.splitlines()[0].startswith("> 单用户模式") and en.splitlines()[0].startswith("> Single-user mode")
    assert "按执法人员" in zh and "未说明的中断" in zh and "By officer" in en
    assert "| P002 | 2 | 1.17 | 1 | 0 | 0 | 1 | 1 | 1 |" in en
    html = rep.files["compliance.zh-CN.html"].read_text()
    assert html.count("data:image/png;base64,") == 2 and "<table>" in html and 'lang="zh-CN"' in html
    for name, key in rep.stored.items():
        assert store.get_bytes(key) == rep.files[name].read_bytes()
    assert json.loads(rep.files["compliance.json"].read_text())["total"]["recordings"] == 5


def test_chinese_font_is_registered_for_charts():
    import glob

    if not glob.glob("/usr/share/fonts/**/*CJK*", recursive=True):
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    from matplotlib import font_manager

    family = cjk_font()
    assert family and "CJK" in family
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert "CJK" in path


def test_month_arithmetic():
    start, end = month_bounds("2026-12", "Asia/Shanghai")
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
    with pytest.raises(ValueError):
        month_bounds("2026-13", "Asia/Shanghai")
    assert previous_month(at("2026-01-15T00:00:00")) == "2025-12"


def test_footage_serve_runs_it_monthly(settings):
    from flows.deployments import build_deployments

    (dep,) = [d for d in build_deployments(settings) if d.flow_name == "compliance-report"]
    (sched,) = dep.schedules
    assert dep.name == "monthly-compliance"
    assert (sched.schedule.cron, sched.schedule.timezone) == ("0 3 1 * *", "Asia/Shanghai")
