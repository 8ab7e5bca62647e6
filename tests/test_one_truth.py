"""One truth across reports: the compliance, deadline and fixity reports of records that the ingest
flow stored agree with the gap report of the same run (no hand-written manifests here)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from media.demo import build_demo_inbox

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

OFFICER_OF_DEVICE = {"DSJ-A01": "1001", "DSJ-B02": "1002"}  # how media/demo.py names its files
RULES = ("unexplained_interruption", "missing_opening_statement")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Ingest the demo inbox once (the module's tests only read what it stored)."""
    import os

    home = tmp_path_factory.mktemp("truth")
    old = {k: v for k, v in os.environ.items() if k.startswith("FOOTAGE_")}
    for key in old:
        if key != "FOOTAGE_SHARED":
            del os.environ[key]
    os.environ.update({"FOOTAGE_HOME": str(home), "FOOTAGE_STORAGE__BACKEND": "local",
                       "FOOTAGE_INGEST__SETTLE_SECONDS": "0.2"})
    try:
        from flows.ingest import run_ingest
        from records.settings import load_settings

        settings = load_settings()
        settings.ensure_layout()
        build_demo_inbox(settings.inbox)
        summary = run_ingest().to_json_dict()
        yield settings, summary
    finally:
        for key in [k for k in os.environ if k.startswith("FOOTAGE_")]:
            del os.environ[key]
        os.environ.update(old)


def gap_report_counts(summary: dict) -> Counter:
    """(officer, kind) -> open findings, read from the run's gap report (the ingest JSON)."""
    return Counter((OFFICER_OF_DEVICE[f["device"]], f["kind"]) for f in summary["findings"] if f["kind"] in RULES)


def test_the_gap_report_finds_what_the_demo_planted(demo_run):
    _, summary = demo_run
    # planted by media/demo.py: no speech anywhere (no opening statement in either session) and
    # a 40 s break in DSJ-A01's session with nothing said after it
    assert gap_report_counts(summary) == Counter({
        ("1001", "missing_opening_statement"): 1,
        ("1001", "unexplained_interruption"): 1,
        ("1002", "missing_opening_statement"): 1,
    })


def test_compliance_counts_what_the_gap_report_found(demo_run):
    from records.compliance import gather
    from records.settings import today
    from records.store import open_store

    settings, summary = demo_run
    store = open_store(settings)
    data = gather(settings, store, "2026-11")
    expected = gap_report_counts(summary)
    for officer in ("1001", "1002"):
        row = data.officers[officer]
        assert row.unexplained_interruptions == expected[(officer, "unexplained_interruption")]
        assert row.missing_opening_statements == expected[(officer, "missing_opening_statement")]
    assert data.total.recordings == summary["ingested"] == 6
    assert data.total.sessions == len(summary["sessions"]) == 2
    # quarantined files count in the month they were quarantined (today's), not the footage's
    month = today(settings)[:7]
    assert gather(settings, store, month).total.quarantined == len(summary["quarantined"]) == 2


def test_an_explanation_given_later_clears_the_finding_everywhere(demo_run):
    from records.compliance import gather
    from records.explanations import store_explanation
    from records.findings import check_files
    from records.store import open_store

    settings, summary = demo_run
    store = open_store(settings)
    (gap,) = [f for f in summary["findings"] if f["kind"] == "unexplained_interruption"]
    store_explanation(store, settings, gap["session"], gap["id"], "battery changed, said in writing", "1001")

    assert gather(settings, store, "2026-11").officers["1001"].unexplained_interruptions == 0
    # ``footage gaps check`` over the processed files agrees
    files = sorted(p for p in settings.processed.rglob("DSJ-A01*.MP4"))
    doc, _ = check_files(files, settings, store)
    assert [e for e in doc.events if e.kind == "unexplained_interruption"] == []
    (row,) = [e for e in doc.events if e.id == gap["id"]]
    assert row.kind == "gap" and row.explanation.text == "battery changed, said in writing"


def test_deadline_and_fixity_reports_cover_every_stored_record(demo_run):
    from flows.fixity import fixity_audit
    from records.compliance import gather
    from records.deadlines import deadline_report, stored_by
    from records.store import open_store

    settings, summary = demo_run
    store = open_store(settings)
    stored = {s["sha256"] for s in summary["stored"]}
    report = fixity_audit(sample_pct=100, settings=settings)
    assert report.ok and {r.sha256 for r in report.results} == stored

    # the demo footage was made on 2026-11-26 (a Thursday) and stored now: late exactly when now
    # is after the end of the second working day after it (Monday 2026-11-30, China time)
    due = stored_by(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))[0]
    assert due.isoformat() == "2026-11-30T23:59:59+08:00"
    late = datetime.now(timezone.utc) > due
    deadlines = deadline_report(settings, store)
    late_records = {i.ref for i in deadlines.items if i.kind == "recording" and i.state == "late"}
    assert late_records == (stored if late else set())
    assert gather(settings, store, "2026-11").total.late_uploads == len(late_records)


def test_speech_was_listened_for_where_the_rules_read_it(demo_run):
    from records.manifest import load_manifest
    from records.store import open_store

    settings, summary = demo_run
    store = open_store(settings)
    windows, listened = {}, {}
    for s in summary["stored"]:
        m = load_manifest(store, s["sha256"])
        events = m.qc_events
        windows[s["file"]] = [(e.start, e.end, e.detail["reason"]) for e in events if e.kind == "speech_window"]
        listened[s["file"]] = m.qc_stats["speech_listened_s"]
        spans = [(a, b) for a, b, _ in windows[s["file"]]]
        for e in events:  # no speech is reported where nobody listened
            if e.kind == "speech":
                assert any(a - 0.05 <= e.start and e.end <= b + 0.05 for a, b in spans), (s["file"], e)
    # DSJ-A01: 6 s files at 0, 6 and 12 s of the session, then one at 58 s after a 40 s break: the
    # 60 s opening window covers the first three and 2 s of the fourth, which is also a resume
    a01 = {name: w for name, w in windows.items() if name.startswith("DSJ-A01") and "_0005" not in name}
    assert sorted(a01.values()) == sorted([[(0.0, 6.0, "opening")]] * 3 + [[(0.0, 2.0, "opening"), (0.0, 6.0, "resume")]])
    for name in a01:  # every second of each file was heard, once
        assert listened[name] == pytest.approx(6.0, abs=0.1)
