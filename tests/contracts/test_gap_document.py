"""The gap document as a model writes what the dictionaries wrote, byte for byte: the
``footage gaps check --json`` document, each session's ``gaps.json`` and ``gaps.md``, the rows a
manifest keeps, the ingest summary's findings, and the ingest flow's join of sessions.

The expected files were written by the code before the model (make_expected.py) on the input of
gap_inputs.py.
"""

from __future__ import annotations

import json

import pytest

from contracts.expect import dump, expected
from contracts.gap_inputs import ERRORS, explanations, qc, sessions
from media.gaps.settings import GapSettings
from records.findings import FindingRow, GapDocument, GapError, document, findings_of, open_findings


@pytest.fixture()
def built():
    ss, results = sessions(), qc()
    return ss, results, GapDocument.build(ss, results, GapSettings(), explanations(ss), ERRORS)


def test_the_document_is_written_as_before(built):
    _, _, doc = built
    assert dump(doc.to_json_dict()) == expected("gaps_document.json")


def test_the_document_reads_back_and_writes_the_same(built):
    """What a reader of ``gaps check --json`` (or a test) parses writes back the same."""
    _, _, doc = built
    again = GapDocument.model_validate_json(json.dumps(doc.to_json_dict()))
    assert dump(again.to_json_dict()) == expected("gaps_document.json")
    assert again == doc


def test_the_json_functions_for_the_ingest_flow_write_as_before(built):
    """``document`` (the ingest flow's gaps_task until it takes the model), ``findings_of`` (a
    manifest's findings) and ``open_findings`` (the ingest summary's), on the model or its JSON."""
    ss, results, doc = built
    legacy = document(ss, results, GapSettings(), explanations(ss), ERRORS)
    assert dump(legacy) == expected("gaps_document.json")
    for source in (doc, legacy):
        rows = {r.path: findings_of(source, r.path) for s in ss for r in s.recordings}
        assert dump(rows) == expected("gaps_findings_of.json")
        assert dump(open_findings(source)) == expected("gaps_open_findings.json")
    assert all(isinstance(r, FindingRow) for r in doc.findings_of("/inbox/e.mp4"))


def test_joined_sessions_are_written_as_the_ingest_flow_joined_them(built):
    """One document per session, one session whose rules failed, joined in session order."""
    ss, results, _ = built
    notes = explanations(ss)
    parts = [GapDocument.build([s], results, GapSettings(), notes) for s in ss]
    failed = GapError.failed_session("CAM9-20261120T000000Z", RuntimeError("store down"))
    assert dump(GapDocument.join([*parts, failed]).to_json_dict()) == expected("gaps_joined.json")
    # the parts as JSON (a flow that still passes dictionaries)
    assert dump(GapDocument.join([p.to_json_dict() for p in parts] + [failed]).to_json_dict()) == expected(
        "gaps_joined.json")


@pytest.mark.parametrize("as_json", [False, True], ids=["model", "json"])
def test_session_reports_and_the_ingest_summary_are_written_as_before(built, tmp_path, as_json):
    from reports.gaps import write_session_reports
    from reports.ingest import build_summary

    ss, _, doc = built
    given = doc.to_json_dict() if as_json else doc
    root = tmp_path / "gaps"
    write_session_reports(root, ss, given, tz="Asia/Shanghai")
    for s in ss:
        for name in ("gaps.json", "gaps.md"):
            assert (root / s.id / name).read_text("utf-8") == expected(f"gaps_report_{s.device}_{name}"), name
    written = given if as_json else doc.to_json_dict()
    assert dump(written).replace(str(root), "<ROOT>") == expected("gaps_document_reported.json")
    summary = build_summary([], ss, busy=[], gap_doc=given)
    assert dump(summary.to_json_dict()).replace(str(root), "<ROOT>") == expected("gaps_ingest_summary.json")


def test_optional_keys_are_written_only_when_set():
    row = FindingRow(kind="black", start=1.0, end=2.0)
    assert "id" not in row.to_json_dict() and "explanation" not in row.to_json_dict()
    row.id, row.explanation = "x", None
    assert list(row.to_json_dict())[-2:] == ["id", "explanation"] and row.to_json_dict()["explanation"] is None
    assert GapError(file="a", reason="b").to_json_dict() == {"file": "a", "reason": "b"}
