"""Retain-until dates from a record's retention categories."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from records.settings import StorageSettings


def retain_until(
    made: datetime,
    categories: list[str] | None,
    cfg: StorageSettings,
    *,
    ingested: datetime | None = None,
) -> datetime:
    """The retain-until instant of a record made at ``made``.

    Each category's period counts from ``made``; a record in several categories takes the
    longest; the result is never earlier than ``min_days_after_ingest`` after ``ingested``.
    """
    if made.tzinfo is None:
        raise ValueError("made must be timezone-aware")
    cats = categories or [cfg.default_category]
    candidates: list[datetime] = []
    for cat in cats:
        if cat not in cfg.categories:
            raise ValueError(f"unknown retention category {cat!r}; known: {sorted(cfg.categories)}")
        days = cfg.categories[cat]
        if days is None:
            far = date.fromisoformat(cfg.evidence_until)
            candidates.append(datetime.combine(far, time(23, 59, 59), tzinfo=timezone.utc))
        else:
            candidates.append(made + timedelta(days=days))
    ingested = ingested or datetime.now(timezone.utc)
    candidates.append(ingested + timedelta(days=cfg.min_days_after_ingest))
    return max(candidates).astimezone(timezone.utc).replace(microsecond=0)
