"""The archive step as the ingest flow and the CLI use it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import av
from prefect.states import Failed
from typer.testing import CliRunner

from flows.cli import app
from flows.archive import _worth_retrying, archive_task
from records.derivatives import archive_recording
from media.archive import ArchiveError, ArchiveSettings, VerificationError
from media.model import Recording, StreamInfo, TimeSource


def recording_of(path, **kw) -> Recording:
    with av.open(str(path)) as c:
        streams = [StreamInfo(index=s.index, kind=s.type, codec=s.codec_context.name) for s in c.streams]
        duration = c.duration / 1e6
    return Recording(
        path=str(path), name=path.name, size=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        container="avi", streams=streams, duration=duration,
        start=datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=8))), start_source=TimeSource.FILENAME,
        device_id="CAM-7", officer_id="0815", **kw,
    )


def test_archive_recording_makes_master_and_access(clips, tmp_path):
    src = clips["mjpeg_pcm_avi"]
    rec = recording_of(src)
    out = archive_task.fn(rec, str(src), str(tmp_path), ArchiveSettings(), "CAM-7-20261127T090000")
    assert out.action == "ffv1"
    kinds = {d.kind: d for d in out.derivatives()}
    assert set(kinds) == {"master", "access"}
    for d in kinds.values():
        assert d.sha256 == hashlib.sha256(open(d.path, "rb").read()).hexdigest()
    assert kinds["master"].path.endswith(f"{rec.sha256}.master.mkv")
    with av.open(kinds["master"].path) as c:
        tags = {k.upper(): v for k, v in c.metadata.items()}
    assert tags["SOURCE_SHA256"] == rec.sha256 and tags["DEVICE"] == "CAM-7" and tags["OFFICER"] == "0815"
    assert tags["SESSION_ID"] == "CAM-7-20261127T090000" and tags["START_TIME"] == "2026-11-27T09:00:00+08:00"
    json.dumps(out.manifest().to_json_dict())  # the manifest section is plain JSON
    assert [c["method"] for c in out.manifest().master["checks"]] == ["frames", "samples"]


def test_policy_from_settings_and_no_access_copy(clips, tmp_path):
    src = clips["h264_aac_mp4"]
    settings = ArchiveSettings.model_validate({"policy": {"access_copy": False}})
    out = archive_recording(recording_of(src), src, tmp_path, settings=settings)
    assert out.action == "remux" and out.access is None
    assert [d.kind for d in out.derivatives()] == ["master"]


def test_retry_only_for_transient_errors():
    assert _worth_retrying(None, None, Failed(data=OSError("disk full")))
    assert not _worth_retrying(None, None, Failed(data=VerificationError("frame #3 differs")))
    assert not _worth_retrying(None, None, Failed(data=ArchiveError("no video")))


def test_cli_archive(clips, tmp_path):
    runner = CliRunner()
    src = clips["h264_aac_mp4"]
    r = runner.invoke(app, ["archive", str(src), "--profile", "ffv1", "--out", str(tmp_path / "m.mkv"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{"):])["action"] == "ffv1"
    r = runner.invoke(app, ["archive", str(src), "--profile", "ffv1", "--out", str(tmp_path / "m.mkv")])
    assert r.exit_code == 1 and "exists" in r.output
    r = runner.invoke(app, ["archive", str(src), "--profile", "lossy"])
    assert r.exit_code == 2
