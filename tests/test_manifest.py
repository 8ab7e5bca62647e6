"""The Manifest model: one writer, typed readers, and manifests written before version 2."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from media.model import Recording
from records.intake import Outcome, Status, sort_batch
from records.manifest import Manifest, StoredObject, build_manifest

SHA = "ab" * 32
MADE = datetime(2026, 11, 3, 1, 15, tzinfo=timezone.utc)

# A manifest as the ingest flow of the first release wrote it (footage.manifest/1), abridged.
V1 = {
    "schema": "footage.manifest/1",
    "sha256": SHA,
    "recording": {
        "path": "DSJ-A01_1001_20261103091500_0001.MP4", "name": "DSJ-A01_1001_20261103091500_0001.MP4",
        "size": 1000, "sha256": SHA, "container": "mov,mp4,m4a,3gp,3g2,mj2", "streams": [], "duration": 60.0,
        "start": "2026-11-03T01:15:00Z", "start_source": "filename", "device_id": "DSJ-A01", "officer_id": "1001",
        "camera_kind": "body", "sequence": 1, "origin": "/inbox", "tags": {}, "chapters": [],
        "events": [{"kind": "missing_opening_statement", "file": "x", "detail": {}}],
    },
    "session": "DSJ-A01-20261103T011500Z",
    "session_events": [{"kind": "unexplained_interruption", "file": "x", "detail": {"explanation": "said so"}}],
    "gaps": [],
    "qc_events": [],
    "qc_stats": None,
    "categories": ["routine"],
    "stored": {"key": f"originals/DSJ-A01/2026/11/03/{SHA}.mp4", "sha256": SHA, "size": 1000,
               "retain_until": "2027-05-05T01:15:00+00:00", "mode": "COMPLIANCE", "version_id": None, "backend": "local"},
    "ingested_at": "2026-11-03T02:00:00+00:00",
}


def recording() -> Recording:
    return Recording(path="a.mp4", name="a.mp4", size=10, sha256=SHA, container="mp4", duration=60.0, start=MADE,
                     start_source="filename", device_id="DSJ-A01", officer_id="1001", tags={"case_id": "C-7"})


def test_version_1_is_read_and_its_open_findings_kept():
    m = Manifest.from_json(json.dumps(V1))
    assert m.recording.officer_id == "1001" and m.stored.key.startswith("originals/DSJ-A01/")
    assert m.made == MADE and m.stored_at == datetime(2026, 11, 3, 2, tzinfo=timezone.utc)
    # the opening statement was open; the interruption was explained when it was written
    assert m.open_findings("missing_opening_statement") == 1
    assert m.open_findings("unexplained_interruption") == 0


def test_written_manifests_read_back_equal():
    finding = {"kind": "unexplained_interruption", "id": "gap-20261103T091600", "file": "a.mp4", "explanation": None}
    m = build_manifest(recording(), {"key": "originals/k", "sha256": SHA}, categories=["evidence"], case="C-7",
                       findings=[finding], ingested_at=MADE)
    body = json.loads(m.to_json())
    assert body["schema"] == "footage.manifest/2" and body["findings"] == [finding] and body["case"] == "C-7"
    again = Manifest.from_json(m.to_json())
    assert again == m
    assert again.open_findings("unexplained_interruption") == 1
    assert again.open_findings("unexplained_interruption", explained={"gap-20261103T091600"}) == 0
    assert again.case_id == "C-7"


def test_unknown_fields_survive_a_round_trip():
    body = dict(V1, schema="footage.manifest/2", future_field={"x": 1})
    assert json.loads(Manifest.from_json(json.dumps(body)).to_json())["future_field"] == {"x": 1}


@pytest.mark.parametrize("body", [{"schema": "something/1"}, {"sha256": SHA}, [1, 2]])
def test_anything_else_is_refused(body):
    with pytest.raises(ValueError):
        Manifest.from_json(json.dumps(body))


def test_sort_batch_separates_new_stored_twins_and_bad():
    def out(name: str, sha: str | None, status: Status = Status.PENDING) -> Outcome:
        rec = recording().model_copy(update={"sha256": sha, "name": name}) if sha else None
        return Outcome(file=name, path=f"/inbox/{name}", recording=rec, status=status)

    probed = [out("a", "1" * 64), out("b", "1" * 64), out("c", "2" * 64), out("d", None, Status.QUARANTINED)]
    batch = sort_batch(probed, lambda sha: StoredObject(key="k") if sha == "2" * 64 else None)
    assert [o.file for o in batch.new] == ["a"]
    assert [(o.file, o.reason) for o in batch.twins] == [("b", "same content as a")]
    assert [(o.file, o.stored.key) for o in batch.stored] == [("c", "k")]
    assert [o.file for o in batch.bad] == ["d"]
