"""``footage gaps check`` / ``gaps explain`` and the per-session reports, end to end on PyAV clips."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from media.gaps.synth import ClipSpec, make_clip

from .conftest import AUDIO, SPEECH_FILES

CONTRACT_KINDS = {
    "gap", "overlap", "discontinuity", "dropped_frames", "black", "freeze", "silence", "no_audio", "audio_dropout",
    "duration_mismatch", "speech", "speech_window", "marker", "missing_opening_statement", "unexplained_interruption",
    "clock_disagreement", "weak_start_time",
}


@pytest.fixture()
def footage(tmp_path, monkeypatch):
    """Two recordings of CAM1: an opening statement in the first, a 40 s gap, silence on resume."""
    if not AUDIO.exists():
        pytest.skip("needs the shared speech files")
    monkeypatch.setenv("FOOTAGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FOOTAGE_CONFIG", raising=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = inbox / "CAM1_P0042_20261120090000_0001.mp4"
    second = inbox / "CAM1_P0042_20261120090100_0002.mp4"
    make_clip(first, ClipSpec(duration=20, ambient_db=-45, speech=[(1.0, str(AUDIO / SPEECH_FILES[2]))], seed=21))
    make_clip(second, ClipSpec(duration=12, black=[(6.0, 9.0)], seed=22))
    return first, second


def run(*args):
    from flows.cli import app

    result = CliRunner().invoke(app, ["gaps", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_check_explain_check(footage):
    first, second = footage
    doc = json.loads(run("check", str(first), str(second), "--json").stdout)
    assert set(doc) == {"sessions", "events", "errors"} and doc["errors"] == []
    (session,) = doc["sessions"]
    kinds = [e["kind"] for e in doc["events"]]
    assert set(kinds) <= CONTRACT_KINDS
    for e in doc["events"]:
        assert {"kind", "file", "device", "start", "end", "rule", "session"} <= set(e)
    (gap,) = [e for e in doc["events"] if e["kind"] == "gap"]
    assert gap["file"] == str(second) and gap["device"] == "CAM1"
    assert (gap["start"], gap["end"]) == (20.0, 60.0)  # session clock
    assert gap["at"].startswith("2026-11-20T09:00:20") and gap["until"].startswith("2026-11-20T09:01:00")
    (black,) = [e for e in doc["events"] if e["kind"] == "black"]
    assert black["file"] == str(second) and abs(black["start"] - 6.0) <= 0.5
    assert "missing_opening_statement" not in kinds  # 11 s of speech from 1 s on
    (flag,) = [e for e in doc["events"] if e["kind"] == "unexplained_interruption"]
    assert flag["id"] == gap["id"] and flag["rule"] == "第二十一条" and flag["explanation"] is None
    assert any(e["kind"] == "speech" and e["file"] == str(first) for e in doc["events"])

    stored = json.loads(run("explain", session["id"], gap["id"], "--text", "电池更换", "--by", "P0042", "--json").stdout)
    assert stored["supersedes"] is None and stored["key"].startswith(f"explanations/{session['id']}/{gap['id']}/")
    again = json.loads(run("explain", session["id"], gap["id"], "--text", "更换电池后继续", "--by", "P0042", "--json").stdout)
    assert again["supersedes"] == stored["key"]

    doc = json.loads(run("check", str(first), str(second), "--json", "--report").stdout)
    assert not [e for e in doc["events"] if e["kind"] == "unexplained_interruption"]
    (gap,) = [e for e in doc["events"] if e["kind"] == "gap"]
    assert gap["explanation"]["text"] == "更换电池后继续" and gap["explanation"]["by"] == "P0042"
    (session,) = doc["sessions"]
    assert session["explained"] == [gap["id"]]
    from pathlib import Path

    report = Path(session["report"])
    md = report.read_text()
    assert "第二十一条" in md and "更换电池后继续" in md and "Findings" in md and "发现的问题" in md
    png = report.parent / "timeline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((report.parent / "gaps.json").read_text())
    assert saved["sessions"][0]["id"] == session["id"]


def test_explain_refuses_bad_ids(footage):
    from flows.cli import app

    result = CliRunner().invoke(app, ["gaps", "explain", "S1", "../x", "--text", "t", "--by", "P1"])
    assert result.exit_code == 2


def test_missing_opening_statement_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTAGE_HOME", str(tmp_path / "home"))
    clip = tmp_path / "CAM2_P7_20261121100000_0001.mp4"
    make_clip(clip, ClipSpec(duration=6, audio=False, seed=23))
    doc = json.loads(run("check", str(clip), "--json", "--no-explained").stdout)
    kinds = {e["kind"] for e in doc["events"]}
    assert {"no_audio", "missing_opening_statement"} <= kinds
    (flag,) = [e for e in doc["events"] if e["kind"] == "missing_opening_statement"]
    assert flag["rule"] == "第二十条" and flag["device"] == "CAM2" and flag["file"] == str(clip)
