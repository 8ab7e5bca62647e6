"""Fixtures for the operations tests: an isolated home, its store, users, and manifests with
known facts written the way the ingest flow writes them (footage.manifest/1)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest



@pytest.fixture
def settings(footage_home: Path):
    from records.settings import load_settings

    s = load_settings()
    s.ensure_layout()
    return s


@pytest.fixture
def store(settings):
    from records.store import open_store

    return open_store(settings)


@pytest.fixture
def users(footage_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Multi-user mode: one user per role, plus one with none."""
    table = {
        "olga": ["operator"],
        "arne": ["archivist"],
        "sven": ["supervisor"],
        "aud": ["auditor"],
        "nobody": [],
    }
    monkeypatch.setenv("FOOTAGE_USERS", json.dumps(table))
    return table


def write_manifest(
    store,
    sha: str,
    *,
    start: datetime,
    duration: float,
    device: str,
    officer: str | None,
    ingested: datetime | None = None,
    findings: list[dict] | None = None,
    session: str | None = None,
    name: str | None = None,
    tags: dict | None = None,
) -> dict:
    """A manifest written by the one writer the ingest flow uses (records.manifest)."""
    from media.model import Recording
    from records.manifest import build_manifest

    recording = Recording(
        path=f"/inbox/{name or sha}.mp4", name=name or f"{sha}.mp4", size=1000, sha256=sha,
        container="mov,mp4,m4a,3gp,3g2,mj2", duration=duration, start=start, start_source="filename",
        device_id=device, officer_id=officer, camera_kind="body", tags=tags or {},
    )
    manifest = build_manifest(
        recording, {"key": f"originals/{device}/{sha}.mp4"}, categories=["routine"],
        findings=findings,
        ingested_at=(ingested or start + timedelta(hours=2)).astimezone(timezone.utc),
    )
    manifest.session = session
    store.put(f"manifests/{sha}.json", manifest.to_json())
    body = json.loads(manifest.to_json())
    return body


@pytest.fixture
def manifest_writer(store):
    def write(sha: str, **kw) -> dict:
        return write_manifest(store, sha, **kw)

    return write
