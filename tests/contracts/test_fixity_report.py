"""The fixity report as a model writes what the dictionary wrote: ``fixity.json``, ``fixity.md``,
``footage storage audit --json`` and the ``fixity`` audit event, for a store with an intact record,
a changed one, a missing one, an unreadable manifest and a missing access copy (fixity_inputs.py;
the expected files were written by the code before the model, make_expected.py). The steps are
those of flows/fixity.py, without Prefect."""

from __future__ import annotations

import json
from types import SimpleNamespace

import flows.fixity as flow
import records.fixity as fixity
import reports.fixity as report_mod
from contracts.expect import dump, expected
from contracts.fixity_inputs import STARTED, Frozen, make_store
from records.fixity import FixityReport


def test_the_fixity_report_is_written_as_before(tmp_path, monkeypatch):
    store, manifests = make_store(tmp_path / "store")
    monkeypatch.setattr(fixity, "datetime", Frozen)
    monkeypatch.setattr(report_mod, "today", lambda settings: "2026-12-01")
    events = []
    monkeypatch.setattr(flow, "open_audit", lambda settings, store: SimpleNamespace(
        append=lambda kind, user, detail: events.append((kind, user, detail))))
    monkeypatch.setattr(flow, "acting_user", lambda: "ops")

    rows = [fixity.check_manifest(store, m) for m in fixity.choose_sample(manifests, 100)]
    report = fixity.summarize(rows, len(manifests), 100, store, STARTED)
    paths = report_mod.write_report(report, SimpleNamespace(reports=tmp_path / "reports"))
    folder = tmp_path / "reports" / "2026-12-01"
    assert (folder / "fixity.json").read_text("utf-8") == expected("fixity_report.json")
    assert (folder / "fixity.md").read_text("utf-8") == expected("fixity_report.md")
    report.paths = {k: str(v) for k, v in paths.items()}
    flow._audit_event(SimpleNamespace(), store, report)
    assert json.dumps(events, ensure_ascii=False, indent=1) == expected("fixity_audit_event.json")
    assert dump(report.without_results()).replace(str(tmp_path), "<ROOT>") == expected("fixity_cli.json")
    # a report read back (fixity.json) writes the same
    again = FixityReport.model_validate_json((folder / "fixity.json").read_text("utf-8"))
    assert json.dumps(again.to_json_dict(), ensure_ascii=False, indent=1) == expected("fixity_report.json")
    assert not report.ok and report.counts.bad_manifest == 1
