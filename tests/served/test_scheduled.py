"""What ``footage serve`` runs on its schedules, run as the schedules run it (issue 22, item 5).

A real Prefect server and a real ``footage serve`` (tests/served/conftest.py); each test creates a
Scheduled run from a deployment with the deployment's own parameters, as Prefect's scheduler does
at the cron's time, and waits for the serving process to pick it up and finish it:

* ``nightly-ingest`` over the ``footage demo`` inbox (media/demo.py): six body-camera files, a
  sidecar, a truncated file, a note that is not video. Every file is accounted for exactly once
  (stored and moved to processed/, or quarantined), the run publishes the
  ``footage-ingest-report`` artifact and writes its summary;
* ``monthly-compliance``: the previous month's report, written, stored and published;
* ``weekly-fixity-audit``, after the ingest: every stored original re-hashed, the summary says so.

Both come after the nightly run and report on the records it stored (fixture ``stored``).

Run them with ``.venv/bin/python -m pytest tests/served -v``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from media.demo import build_demo_inbox
from servekit import COMPLIANCE, FIXITY, NIGHTLY, Served  # tests/ is on sys.path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a server, footage serve, a run of each

GOOD = 6  # media/demo.py: recordings that are stored
BAD = {"DSJ-A01_1001_20261126110000_0005.MP4": "truncated", "notes.txt": "not_media"}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Nightly:
    files: dict[str, str]  # what was in the inbox before the run: name -> SHA-256
    run: Any  # the final flow run
    seconds: float


@pytest.fixture(scope="module")
def nightly(served: Served) -> Nightly:
    """The demo inbox, then one scheduled run of ``nightly-ingest`` (once per module: the
    compliance and fixity tests come after it, so that they have records to report on)."""
    inbox = served.settings.inbox
    build_demo_inbox(inbox)
    files = {p.relative_to(inbox).as_posix(): sha(p) for p in sorted(inbox.rglob("*")) if p.is_file()}
    assert len(files) == 9  # 8 made by media/demo.py and one sidecar .json
    run, seconds = served.run_scheduled(NIGHTLY)
    print(f"\nnightly-ingest: {run.state.name} after {seconds:.0f} s")
    return Nightly(files, run, seconds)


@pytest.fixture(scope="module")
def stored(served: Served, nightly: Nightly) -> dict[str, dict[str, Any]]:
    """The demo's records in the store, for the compliance and fixity runs to report on: those
    the nightly run stored; if it failed, the files it left in the inbox ingested by hand
    (``footage ingest``, what an operator does the morning after), so that those runs are tested
    on records either way (the nightly run's failure is its own test's)."""
    if not nightly.run.state.is_completed():
        done = served.footage("ingest", "--json")
        assert done.returncode == 0, f"footage ingest after the failed nightly run: {done.returncode}\n{done.stderr[-3000:]}"
        assert json.loads(done.stdout)["ingested"] == GOOD, done.stdout[-3000:]
    manifests = stored_manifests(served)
    assert len(manifests) == GOOD
    return manifests


def stored_manifests(served: Served) -> dict[str, dict[str, Any]]:
    """sha256 -> manifest of every record in the store."""
    store = served.store()
    out = {}
    for info in store.list("manifests/"):
        if info.key.endswith(".json"):
            doc = json.loads(store.get_bytes(info.key))
            out[doc["recording"]["sha256"]] = doc
    return out


def where_files_are(served: Served) -> Counter:
    """(original name, SHA-256, place) of every file in the inbox, processed/ and quarantine/."""
    s = served.settings
    found: Counter = Counter()
    for place, root in (("inbox", s.inbox), ("processed", s.processed), ("quarantine", s.quarantine)):
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            if not p.is_file() or p.name.endswith(".reason.json"):
                continue
            if any(part.startswith(".") for part in p.relative_to(root).parts[:-1]):
                continue  # Footage's own notes (leases, the stamps of moved files), not anybody's file
            name = p.name
            reason = p.with_name(p.name + ".reason.json")
            if place == "quarantine" and reason.exists():
                name = json.loads(reason.read_text())["original_name"]
            found[(name, sha(p), place)] += 1
    return found


def test_nightly_ingest_stores_moves_and_reports_every_file(served: Served, nightly: Nightly):
    run = nightly.run
    assert run.state.is_completed(), served.why(run)
    settings = served.settings

    # the run's summary: its return value, which a served run does not persist (Prefect's result
    # persistence is off), written by the flow as the day's ingest report
    (summary,) = [doc for p in sorted(settings.reports.glob("*/ingest.json"))
                  if (doc := json.loads(p.read_text())).get("flow_run") == str(run.id)]
    assert summary["seen"] == 8 and summary["ingested"] == GOOD and summary["duplicates"] == 0, summary
    assert sorted((Path(q["file"]).name, q["reason"]) for q in summary["quarantined"]) == sorted(BAD.items())
    assert summary["still_writing"] == [] and summary["leased"] == []
    assert summary["runner"]["mode"] == "embedded"

    # every file of the inbox accounted for exactly once: nothing lost, nothing duplicated
    expected = Counter((Path(name).name, digest, "quarantine" if Path(name).name in BAD else "processed")
                       for name, digest in nightly.files.items())
    assert where_files_are(served) == expected
    assert [p for p in settings.inbox.rglob("*") if p.is_file()] == []

    # the good recordings stored once each, bit for bit, with their manifests
    good = {d for n, d in nightly.files.items() if n.endswith(".MP4") and Path(n).name not in BAD}
    assert len(good) == GOOD
    manifests = stored_manifests(served)
    assert set(manifests) == good
    store = served.store()
    originals = [o.key for o in store.list("originals/")]
    assert len(originals) == GOOD
    assert {s["sha256"] for s in summary["stored"]} == good
    for item in summary["stored"]:
        assert store.verify(item["key"], item["sha256"]).ok
        assert manifests[item["sha256"]]["stored"]["key"] == item["key"]

    # the audit log chains and says so
    from records.audit import open_audit

    audit = open_audit(settings, store)
    assert audit.verify().ok
    kinds = Counter(e["kind"] for e in audit.events())
    assert kinds["stored"] == GOOD and kinds["quarantined"] == len(BAD)

    # the run's artifact in the Prefect UI
    (artifact,) = served.artifacts(run.id, "footage-ingest-report")
    assert artifact.type == "markdown"
    for word in ("DSJ-A01", "DSJ-B02", "truncated"):
        assert word in artifact.data


def test_monthly_compliance_reports_the_previous_month(served: Served, stored: dict[str, dict[str, Any]]):
    from records.compliance import month_bounds, previous_month
    from records.manifest import iter_manifests
    from reports.compliance import _artifact_key

    settings = served.settings
    month = previous_month(tz=settings.time.timezone)  # what the monthly run reports, by default
    before = datetime.now(timezone.utc)
    run, seconds = served.run_scheduled(COMPLIANCE)
    print(f"\nmonthly-compliance: {run.state.name} after {seconds:.0f} s")
    assert run.state.is_completed(), served.why(run)
    assert previous_month(tz=settings.time.timezone) == month, "the month changed during the run: run it again"

    folder = settings.reports / "compliance" / month
    names = {f"compliance.{lang}.{ext}" for lang in ("zh-CN", "en") for ext in ("md", "html")} | {"compliance.json"}
    assert names <= {p.name for p in folder.iterdir()}
    data = json.loads((folder / "compliance.json").read_text())
    assert data["month"] == month and datetime.fromisoformat(data["generated"]) >= before.replace(microsecond=0)
    # it counts the records made in that month that the store holds (the demo's, made in
    # November 2026, when the month is that one)
    start, end = month_bounds(month, settings.time.timezone)
    made = [m for m in iter_manifests(served.store()) if start <= m.made < end]
    assert data["total"]["recordings"] == len(made)
    assert data["manifests"] == len(made) == (GOOD if month == "2026-11" else 0)
    # kept in the store, and published
    kept = {Path(o.key).name for o in served.store().list(f"reports/compliance/{month}/")}
    assert names <= kept
    (artifact,) = served.artifacts(run.id, _artifact_key(f"compliance-{month}"))
    assert month in artifact.data


def test_weekly_fixity_audit_checks_every_stored_original(served: Served, stored: dict[str, dict[str, Any]]):
    settings = served.settings
    manifests = stored_manifests(served)
    assert set(manifests) == set(stored)
    before = datetime.now(timezone.utc)
    run, seconds = served.run_scheduled(FIXITY)
    print(f"\nweekly-fixity-audit: {run.state.name} after {seconds:.0f} s ({len(manifests)} records stored)")
    assert run.state.is_completed(), served.why(run)

    # its summary: every stored original re-hashed (sample_pct 100, the deployment's default), all good
    reports = [doc for p in sorted(settings.reports.glob("*/fixity.json"))
               if datetime.fromisoformat((doc := json.loads(p.read_text()))["started"]) >= before]
    (report,) = reports
    assert report["sample_pct"] == 100 and report["ok"], report["problems"]
    assert report["manifests"] == report["checked"] == len(manifests)
    assert {r["sha256"] for r in report["results"]} == set(manifests)
    assert report["counts"]["ok"] == len(manifests) == GOOD

    # the audit log says so, and the UI shows it
    from records.audit import open_audit

    (event,) = [e for e in open_audit(settings, served.store()).events() if e["kind"] == "fixity"]
    assert event["detail"]["checked"] == len(manifests) and event["detail"]["ok"]
    (artifact,) = served.artifacts(run.id, "fixity-audit")
    assert artifact.data
