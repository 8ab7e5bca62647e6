"""Smoke runs of the redaction-QA measurement scripts ``qa_cost.py`` and ``qa_recall.py``.

Those two are run by hand (``nice .venv/bin/python benchmarks/qa_recall.py``: minutes to hours)
and are no pytest benchmarks; so that they do not rot unnoticed, in smoke mode
(``FOOTAGE_BENCH_SMOKE=1``, CI) this file runs each on the synthetic two-face clip of
tests/redact (60 frames of 320x240): the QA cost against its render, and the planted-miss
recall with every track dropped in one render (``--together``), both passes. Their results go to
pytest's temporary folder, never over the scripts' own results in benchmarks/.cache. Outside smoke
mode it skips: run the scripts themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smoke import SMOKE  # noqa: E402

pytestmark = pytest.mark.skipif(not SMOKE, reason="run benchmarks/qa_cost.py and benchmarks/qa_recall.py "
                                "directly (their docstrings say how); this file only smoke-tests them")


def test_qa_cost_smoke():
    import qa_cost

    row = qa_cost.cost("synthetic", legacy=False)
    assert row["frames"] == 60
    assert row["qa_residuals"] == 0  # a clean render: every track masked


def test_qa_recall_smoke(tmp_path):
    import qa_recall

    row = qa_recall.measure("synthetic", qa_recall.synthetic(), tmp_path, together=True)
    assert row["tracks"] == 2  # the clip holds two faces
    for name, result in row["passes"].items():
        assert len(result["caught"]) + len(result["missed"]) == row["tracks"], name
