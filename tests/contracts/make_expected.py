"""Write the expected outputs of the contract tests (``expected/``), with the code as it is.

Run once against the code *before* a change of the models (these files were written by commit
d4b6568, where the gap document, the receipt and the fixity report were dictionaries), then
keep them: the tests compare what the new code writes for the same input with these bytes.
Running it again after the change would only compare the new code with itself.

    .venv/bin/python tests/contracts/make_expected.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]

from contracts.expect import EXPECTED as OUT  # noqa: E402
from contracts.expect import dump  # noqa: E402


def gap_document() -> None:
    from media.gaps.settings import GapSettings
    from records.findings import document, findings_of, open_findings
    from reports.gaps import write_session_reports
    from reports.ingest import build_summary

    from contracts.gap_inputs import ERRORS, explanations, qc, sessions

    ss, results = sessions(), qc()
    notes = explanations(ss)
    doc = document(ss, results, GapSettings(), notes, ERRORS)
    (OUT / "gaps_document.json").write_text(dump(doc), "utf-8")
    (OUT / "gaps_findings_of.json").write_text(
        dump({r.path: findings_of(doc, r.path) for s in ss for r in s.recordings}), "utf-8")
    (OUT / "gaps_open_findings.json").write_text(dump(open_findings(doc)), "utf-8")
    # the ingest flow: one document per session, joined (flows/ingest.py SessionReports.document)
    parts = [document([s], results, GapSettings(), notes) for s in ss] + [RuntimeError("store down")]
    joined = {"sessions": [], "events": [], "errors": []}
    for sid, part in zip([s.id for s in ss] + ["CAM9-20261120T000000Z"], parts):
        if not isinstance(part, dict):
            joined["errors"].append({"session": sid, "error": f"{type(part).__name__}: {part}"})
            continue
        for k in joined:
            joined[k] += part.get(k, [])
    (OUT / "gaps_joined.json").write_text(dump(joined), "utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "gaps"
        write_session_reports(root, ss, doc, tz="Asia/Shanghai")
        for s in ss:
            for name in ("gaps.json", "gaps.md"):
                text = (root / s.id / name).read_text("utf-8")
                (OUT / f"gaps_report_{s.device}_{name}").write_text(text, "utf-8")
        (OUT / "gaps_document_reported.json").write_text(dump(doc).replace(str(root), "<ROOT>"), "utf-8")
        summary = build_summary([], ss, busy=[], gap_doc=doc)
        (OUT / "gaps_ingest_summary.json").write_text(dump(summary).replace(str(root), "<ROOT>"), "utf-8")


def receipts() -> None:
    from contracts.disclose_harness import SCENARIOS, as_plain, run_expiry, run_scenario

    def patch(obj, name, value):
        setattr(obj, name, value)

    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENARIOS:
            stored, result = run_scenario(name, Path(tmp) / name, patch)
            (OUT / f"receipt_{name}.json").write_bytes(stored)
            (OUT / f"receipt_{name}_returned.json").write_text(dump(as_plain(result)), "utf-8")
        for paused in (True, False):
            stored, results = run_expiry(Path(tmp) / f"expired-{paused}", patch, paused)
            tag = "paused" if paused else "failed"
            (OUT / f"receipt_expired_{tag}.json").write_bytes(stored)
            (OUT / f"receipt_expired_{tag}_returned.json").write_text(dump([as_plain(r) for r in results]), "utf-8")


def fixity_run(tmp: Path, patch) -> dict[str, str]:
    """The fixity flow's steps (flows/fixity.py) on :func:`make_store`'s store, without Prefect: the report as
    ``fixity.json`` and ``fixity.md`` hold it, as ``footage storage audit --json`` prints it
    (``paths`` under ``<ROOT>``), and the ``fixity`` audit event's detail."""
    from types import SimpleNamespace

    import flows.fixity as flow
    import records.fixity as fixity
    import reports.fixity as report_mod

    from contracts.fixity_inputs import STARTED, Frozen, make_store

    store, manifests = make_store(tmp / "store")
    patch(fixity, "datetime", Frozen)
    patch(report_mod, "today", lambda settings: "2026-12-01")
    events = []
    patch(flow, "open_audit", lambda settings, store: SimpleNamespace(
        append=lambda kind, user, detail: events.append((kind, user, detail))))
    patch(flow, "acting_user", lambda: "ops")
    rows = [fixity.check_manifest(store, m) for m in fixity.choose_sample(manifests, 100)]
    report = fixity.summarize(rows, len(manifests), 100, store, STARTED)
    settings = SimpleNamespace(reports=tmp / "reports")
    paths = report_mod.write_report(report, settings)
    out = {"fixity_report.json": (tmp / "reports" / "2026-12-01" / "fixity.json").read_text("utf-8"),
           "fixity_report.md": (tmp / "reports" / "2026-12-01" / "fixity.md").read_text("utf-8")}
    report["paths"] = {k: str(v) for k, v in paths.items()}
    flow._audit_event(SimpleNamespace(), store, report)
    cli = {k: v for k, v in report.items() if k != "results"}
    out["fixity_cli.json"] = json.dumps(cli, ensure_ascii=False, indent=1, default=str).replace(str(tmp), "<ROOT>")
    out["fixity_audit_event.json"] = json.dumps(events, ensure_ascii=False, indent=1)
    return out


def fixity() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = fixity_run(Path(tmp), lambda obj, name, value: setattr(obj, name, value))
    for name, text in out.items():
        (OUT / name).write_text(text, "utf-8")


def records_docs() -> None:
    """Written explanations, case closings and users' key status: what ``footage gaps explain
    --json``, ``footage case close`` and ``footage user show --json`` print and what is stored."""
    import os

    import records.deadlines as deadlines
    import records.explanations as explanations
    from contracts.record_inputs import USERS, close_cases, frozen_clock
    from records.identity import key_status
    from records.settings import Settings, load_settings
    from records.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FOOTAGE_HOME"] = tmp
        os.environ["FOOTAGE_STORAGE__BACKEND"] = "local"
        settings = load_settings()
        store = open_store(settings)
        explanations.datetime = frozen_clock()
        first = explanations.store_explanation(store, settings, "CAM1-20261120T010000Z", "gap-20261120T090340",
                                               " 更换电池 ", "P0042")
        second = explanations.store_explanation(store, settings, "CAM1-20261120T010000Z", "gap-20261120T090340",
                                                "更换电池后继续", "P0042")
        (OUT / "explanation_cli.json").write_text(dump([first, second]), "utf-8")
        (OUT / "explanation_stored.json").write_bytes(store.get_bytes(second["key"]))
        (OUT / "explanation_loaded.json").write_text(
            dump(explanations.load_explanations(store, ["CAM1-20261120T010000Z", "CAM2-x"])), "utf-8")
        deadlines.datetime = frozen_clock()
        (a, b, c), events = close_cases(deadlines.close_case, store)
        lines = [f"case {x['case']} closed on {x['closed']}; records due filed by {x['filed_by']}" for x in (a, b, c)]
        (OUT / "case_closed.json").write_text(dump({"returned": [a, b, c], "audit": events, "cli": lines,
                                                   "cases": deadlines.cases(store)}), "utf-8")
        (OUT / "case_stored.json").write_bytes(store.get_bytes(a["key"]))
        single = Settings()
        multi = Settings(users=USERS)
        rows = [key_status(single, "li")] + [key_status(multi, n) for n in ("ann", "bo", "cy", "zed")]
        (OUT / "key_status.json").write_text(dump(rows), "utf-8")


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name in sys.argv[1:] or ["gap_document"]:
        globals()[name]()
