"""The operations commands through Typer's CliRunner, FOOTAGE_HOME in a temporary folder."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from records.audit import PREFIX, open_audit
from flows.cli import app
from records.deadlines import cases

CN = ZoneInfo("Asia/Shanghai")


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


@pytest.mark.parametrize(
    "made, printed",
    [
        ("2026-09-30T10:00:00+08:00", "2026-10-09T23:59:59+08:00"),
        ("2026-02-13T18:00:00", "2026-02-24T23:59:59+08:00"),  # no offset: China time
        ("2026-02-13T12:00:00Z", "2026-02-24T23:59:59+08:00"),
    ],
)
def test_deadline_stored(footage_home, made, printed):
    r = run("deadline", "stored", "--made", made)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == printed


def test_deadline_stored_unknown_year_says_so(footage_home):
    r = run("deadline", "stored", "--made", "2031-03-07T12:00:00", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"made": "2031-03-07T12:00:00+08:00", "stored_by": "2031-03-11T23:59:59+08:00",
                                    "calendar_known": False}
    r = run("deadline", "stored", "--made", "2031-03-07T12:00:00")
    assert "Monday-Friday" in r.stderr
    assert run("deadline", "stored", "--made", "yesterday").exit_code == 2


def test_case_close_audit_show_and_verify(settings, store):
    r = run("case", "close", "C-2026-017", "--date", "2026-10-01", "--as", "arne")
    assert r.exit_code == 0, r.output
    assert "2026-10-31T23:59:59+08:00" in r.stdout
    assert cases(store)["C-2026-017"].closed.isoformat() == "2026-10-01"
    open_audit(settings, store).append("released", user="arne", record="c" * 64)

    r = run("audit", "show", "--json")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["kind"], e["user"]) for e in events] == [("case_closed", "arne"), ("released", "arne")]
    assert events[0]["detail"]["case"] == "C-2026-017"
    r = run("audit", "show", "--json", "--record", "c" * 64)
    assert [json.loads(line)["kind"] for line in r.stdout.splitlines()] == ["released"]
    r = run("audit", "show", "--json", "--since", (datetime.now(CN) + timedelta(days=1)).date().isoformat())
    assert r.stdout.strip() == ""
    r = run("audit", "show")
    assert r.exit_code == 0 and "case_closed" in r.stdout and "Single-user mode" in r.stderr

    r = run("audit", "verify")
    assert r.exit_code == 0 and "intact" in r.stdout and "2 events in 2 segments" in r.stdout

    key = sorted(o.key for o in store.list(PREFIX))[1]
    path = store.objects / key
    seg = json.loads(path.read_text())
    seg["events"][0]["record"] = "d" * 64
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_text(json.dumps(seg))
    r = run("audit", "verify")
    assert r.exit_code == 1 and "BROKEN" in r.stdout and key in r.stdout and "event #0" in r.stdout
    doc = json.loads(run("audit", "verify", "--json").stdout)
    assert doc["broken"] == {"segment": key, "index": 0, "reason": doc["broken"]["reason"]} and not doc["ok"]


def test_report_deadlines(settings, store, manifest_writer):
    now = datetime.now(timezone.utc)
    # stored late: made 30 Sep 2026, due 9 Oct, stored 12 Oct
    manifest_writer("e1" * 32, start=datetime(2026, 9, 30, 10, tzinfo=CN), duration=60, device="D1",
                    officer="P001", ingested=datetime(2026, 10, 12, 9, tzinfo=CN))
    manifest_writer("e2" * 32, start=datetime(2026, 9, 30, 10, tzinfo=CN), duration=60, device="D1",
                    officer="P001", ingested=datetime(2026, 10, 9, 9, tzinfo=CN))  # on time
    # still in the inbox long after its deadline (made time from the file name)
    (settings.inbox / "D3_P009_20260105090000_0001.MP4").write_bytes(b"\0" * 10)
    # a case whose filing deadline is in 3 days
    closed = (now.astimezone(CN) - timedelta(days=27)).date()
    assert run("case", "close", "K-1", "--date", closed.isoformat()).exit_code == 0

    r = run("report", "deadlines", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    states = {(i["kind"], i["ref"]): i["state"] for i in doc["items"]}
    assert states == {
        ("recording", "e1" * 32): "late",
        ("inbox", "D3_P009_20260105090000_0001.MP4"): "overdue",
        ("case", "K-1"): "at_risk",
    }
    late = next(i for i in doc["items"] if i["kind"] == "recording")
    assert late["due"] == "2026-10-09T23:59:59+08:00" and late["late_by_hours"] == pytest.approx(57.0, abs=0.01)
    day = now.astimezone(CN).date().isoformat()
    assert (settings.reports / day / "deadlines.md").read_text().startswith("> Single-user mode")
    r = run("report", "deadlines")
    assert r.exit_code == 0 and "Late: 2" in r.stdout and "At risk: 1" in r.stdout


@pytest.mark.slow
def test_report_compliance_and_status_through_prefect(prefect_harness, settings, store, manifest_writer):
    from prefect.client.orchestration import get_client

    manifest_writer("f1" * 32, start=datetime(2026, 10, 8, 9, tzinfo=CN), duration=1800, device="D1", officer="P001")
    reason = settings.quarantine / "20261101T000000-bad.mp4.reason.json"
    reason.write_text(json.dumps({"file": "bad.mp4", "original_name": "bad.mp4", "reason": "zero_length"}))

    r = run("report", "compliance", "--month", "2026-10")
    assert r.exit_code == 0, r.output
    assert "compliance.zh-CN.html" in r.stdout
    assert (settings.reports / "compliance" / "2026-10" / "compliance.en.md").is_file()
    assert any(o.key.endswith("/compliance.zh-CN.html") for o in store.list("reports/compliance/2026-10/"))
    with get_client(sync_client=True) as client:
        art = client.read_latest_artifacts()
        md = next(a for a in art if a.key == "compliance-2026-10").data
    assert "P001" in md and "按执法人员" in md and "By officer" in md

    assert run("report", "compliance", "--month", "2026-13").exit_code == 2

    from flows.compliance import deadlines_flow

    (settings.inbox / "D3_P009_20260105090000_0001.MP4").write_bytes(b"\0")
    assert deadlines_flow()["late"] == 1
    with get_client(sync_client=True) as client:
        md = next(a for a in client.read_latest_artifacts() if a.key == "deadlines").data
    assert md.startswith("> Single-user mode") and "D3_P009_20260105090000_0001.MP4" in md and "overdue" in md

    r = run("status", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["api_error"] is None
    assert any(x["flow"] == "compliance-report" and x["type"] == "COMPLETED" for x in doc["runs"])
    assert doc["quarantined"] == 1
    r = run("status")
    # the Rich table folds long names at 80 columns
    assert r.exit_code == 0 and "complian" in r.stdout and "Quarantined files" in r.stdout and "Completed" in r.stdout, r.stdout
