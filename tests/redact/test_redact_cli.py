"""``footage redact tracks FILE`` and ``footage redact FILE --out OUT.mp4`` through the Typer app."""

from __future__ import annotations

import json

import av
from typer.testing import CliRunner

from flows.cli import app


def test_tracks_then_render_with_keep_and_spec(two_faces_clip, tmp_path):
    path, _, n = two_faces_clip
    runner = CliRunner()
    res = runner.invoke(app, ["redact", "tracks", str(path), "--out-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["tracks"] == 2 and summary["frames"] == n
    tracks = json.loads((tmp_path / "two_faces.tracks.json").read_text())
    assert (tmp_path / "two_faces.sheet.png").stat().st_size > 1000
    keep = tracks["tracks"][0]["id"]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"audio": [{"start": 0.2, "end": 0.6, "mode": "bleep"}]}))
    out = tmp_path / "out.mp4"
    res = runner.invoke(app, ["redact", str(path), "--out", str(out), "--tracks", str(tmp_path / "two_faces.tracks.json"),
                                 "--keep", str(keep), "--spec", str(spec), "--no-qa", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["kept"] == [keep] and doc["masked_tracks"] == [t["id"] for t in tracks["tracks"] if t["id"] != keep]
    assert doc["frames"] == n and doc["audio_ranges"] == 1
    log = json.loads(out.with_suffix(".redaction.json").read_text("utf-8"))
    assert log["status"] == "unreleased" and log["output_sha256"] == doc["out_sha256"]
    assert {e["kind"] for e in log["entries"]} == {"redaction", "kept_visible"}
    with av.open(str(out)) as c:
        assert c.metadata["footage_status"] == "unreleased"


def test_bad_keep_id_is_a_clear_error(two_faces_clip, tmp_path):
    path, _, _ = two_faces_clip
    res = CliRunner().invoke(app, ["redact", str(path), "--out", str(tmp_path / "o.mp4"), "--keep", "42", "--no-qa"])
    assert res.exit_code == 2 and "do not exist" in res.output
    res = CliRunner().invoke(app, ["redact", str(path), "--out", str(tmp_path / "o.mp4"), "--keep", "x"])
    assert res.exit_code == 2
