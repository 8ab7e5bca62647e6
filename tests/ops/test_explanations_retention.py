"""Written explanations (article 21) are kept by the same retention rules as records:
the default category's period, and never less than ``min_days_after_ingest`` after storing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from records.explanations import store_explanation
from records.settings import load_settings
from records.store import open_store


def _stored_until(monkeypatch, **env: str) -> tuple[datetime, datetime, datetime]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    store = open_store(settings)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stored = store_explanation(store, settings, "DSJ-A01-20261126T010000Z", "opening", "battery swapped", "1001")
    after = datetime.now(timezone.utc)
    return store.head(stored.key).retain_until, before, after


def test_min_days_after_ingest_wins_over_a_shorter_category(footage_home, monkeypatch):
    until, before, after = _stored_until(
        monkeypatch, FOOTAGE_STORAGE__CATEGORIES='{"routine": 10}', FOOTAGE_STORAGE__MIN_DAYS_AFTER_INGEST="400"
    )
    assert before + timedelta(days=400) <= until <= after + timedelta(days=400)


def test_the_default_category_wins_when_longer(footage_home, monkeypatch):
    until, before, after = _stored_until(
        monkeypatch, FOOTAGE_STORAGE__CATEGORIES='{"routine": 183}', FOOTAGE_STORAGE__MIN_DAYS_AFTER_INGEST="30"
    )
    assert before + timedelta(days=183) <= until <= after + timedelta(days=183)


def test_a_permanent_default_category_keeps_it_to_the_evidence_date(footage_home, monkeypatch):
    until, _, _ = _stored_until(
        monkeypatch, FOOTAGE_STORAGE__CATEGORIES='{"routine": null}', FOOTAGE_STORAGE__EVIDENCE_UNTIL="2199-12-31"
    )
    assert until == datetime(2199, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
