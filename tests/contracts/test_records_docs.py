"""Written explanations, case closings and users' key status as models write what the
dictionaries wrote: the stored objects, ``footage gaps explain --json``, ``footage case close``
and ``footage user show --json``. The expected files were written by the code before the models
(make_expected.py) on the same input and clock."""

from __future__ import annotations

import json

import pytest

from contracts.expect import dump, expected, expected_bytes
from contracts.record_inputs import USERS, close_cases, frozen_clock


@pytest.fixture()
def store(footage_home):
    from records.settings import load_settings
    from records.store import open_store

    settings = load_settings()
    return settings, open_store(settings)


def test_explanations_are_stored_printed_and_read_as_before(store, monkeypatch):
    import records.explanations as explanations

    settings, store = store
    monkeypatch.setattr(explanations, "datetime", frozen_clock())
    session, gap = "CAM1-20261120T010000Z", "gap-20261120T090340"
    first = explanations.store_explanation(store, settings, session, gap, " 更换电池 ", "P0042")
    second = explanations.store_explanation(store, settings, session, gap, "更换电池后继续", "P0042")
    assert dump([first.as_written(), second.as_written()]) == expected("explanation_cli.json")
    assert store.get_bytes(second.key) == expected_bytes("explanation_stored.json")
    loaded = explanations.load_explanations(store, [session, "CAM2-x"])
    assert loaded[session][gap] == second
    assert dump({s: {f: e.to_json_dict() for f, e in by.items()} for s, by in loaded.items()}) == expected(
        "explanation_loaded.json")


def test_case_closings_are_stored_read_and_said_as_before(store, monkeypatch):
    import records.deadlines as deadlines

    _, store = store
    monkeypatch.setattr(deadlines, "datetime", frozen_clock())
    (a, b, c), events = close_cases(deadlines.close_case, store)
    old = json.loads(expected("case_closed.json"))
    # what footage case close says (flows/cli/ops.py) and audits
    lines = [f"case {x.case} closed on {x.closed.isoformat()}; records due filed by {x.filed_by.isoformat()}"
             for x in (a, b, c)]
    assert lines == old["cli"] and events == old["audit"]
    assert [x.to_json_dict() for x in (a, b, c)] == old["returned"]  # the same fields (their order was another)
    assert dump({k: v.to_json_dict() for k, v in deadlines.cases(store).items()}) == dump(old["cases"])
    assert store.get_bytes(a.key) == expected_bytes("case_stored.json")


def test_key_status_is_printed_as_before():
    from records.identity import key_status
    from records.settings import Settings

    rows = [key_status(Settings(), "li")] + [key_status(Settings(users=USERS), n) for n in ("ann", "bo", "cy", "zed")]
    assert dump([r.to_json_dict() for r in rows]) == expected("key_status.json")
