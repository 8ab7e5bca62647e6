"""The disclosure receipt as a model: the flow stores, returns and reads back what it did when
the receipt was a dictionary, for every way a run ends (disclose_harness.py runs the flow's body
with its steps faked and its inputs scripted; the expected receipts were written by the flow
before the model, make_expected.py)."""

from __future__ import annotations

import json

import pytest

from contracts.disclose_harness import SCENARIOS, as_plain, run_expiry, run_scenario
from contracts.expect import dump, expected, expected_bytes
from records.disclosure import UNSIGNED_COPY, Receipt


def _unsigned_parts(doc: dict) -> dict:
    """A released receipt without its Content Credentials parts (issue 27, added after the expected
    receipts were written): here ``[c2pa]`` is not configured, so ``c2pa`` is null with a warning."""
    assert doc.pop("c2pa") is None
    assert doc.pop("warnings") == [UNSIGNED_COPY]
    return doc


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_flow_stores_and_returns_the_receipt_as_before(name, footage_home, monkeypatch):
    stored, result = run_scenario(name, footage_home, monkeypatch.setattr)
    returned = as_plain(result)
    if name.startswith("released"):
        stored = json.dumps(_unsigned_parts(json.loads(stored)), ensure_ascii=False, indent=1,
                            sort_keys=True).encode()
        returned = _unsigned_parts(returned)
    assert stored == expected_bytes(f"receipt_{name}.json")
    assert isinstance(result, Receipt)
    # the flow's return value: the same receipt (its keys were in the order the steps added them)
    assert returned == json.loads(expected(f"receipt_{name}_returned.json"))


@pytest.mark.parametrize("paused", [True, False], ids=["paused", "failed"])
def test_an_expired_run_gets_the_receipt_as_before(paused, footage_home, monkeypatch):
    stored, (made, read_back) = run_expiry(footage_home, monkeypatch.setattr, paused)
    tag = "paused" if paused else "failed"
    assert stored == expected_bytes(f"receipt_expired_{tag}.json")
    assert [as_plain(made), as_plain(read_back)] == json.loads(expected(f"receipt_expired_{tag}_returned.json"))
    assert read_back == made


@pytest.mark.parametrize("name", [*sorted(SCENARIOS), "expired_paused", "expired_failed"])
def test_a_stored_receipt_reads_back_and_prints_as_before(name):
    """``footage disclose status --json`` prints the stored receipt under ``receipt``: read as the
    model, it prints as the stored JSON did; and written again it is the same object."""
    stored = expected_bytes(f"receipt_{name}.json")
    receipt = Receipt.from_json(stored)
    assert dump(receipt.to_json_dict()) == dump(json.loads(stored))
    assert receipt.to_json() == stored


def test_parts_a_later_version_adds_are_kept():
    body = json.loads(expected_bytes("receipt_released.json"))
    body["new_part"] = {"b": 1, "a": [2]}
    body["qa"]["new_figure"] = 3
    again = json.loads(Receipt.model_validate(body).to_json())
    assert again == body
