"""The command line: config show, ingest --json contract, serve's refusal and schedule, demo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from media.synth import make_clip

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_config_show_reads_toml_env_and_masks_secrets(footage_home, tmp_path, monkeypatch):
    cfg = tmp_path / "footage.toml"
    cfg.write_text(
        '[storage]\nbackend = "s3"\nbucket = "evidence"\nendpoint_url = "http://admin:hunter2@127.0.0.1:7480"\n'
        '[segment]\nsession_break_s = 600\n'
    )
    monkeypatch.setenv("FOOTAGE_SEGMENT__CHAIN_TOLERANCE_S", "5")
    monkeypatch.setenv("FOOTAGE_STORAGE__BUCKET", "from-env")
    result = runner.invoke(app, ["--config", str(cfg), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["home"] == str(footage_home)
    assert data["storage"]["backend"] == "local"  # the environment (set by the fixture) beats the file
    assert data["storage"]["bucket"] == "from-env"
    assert data["segment"] == {"session_break_s": 600.0, "chain_tolerance_s": 5.0, "discontinuity_s": 1.0}
    assert "hunter2" not in result.stdout and data["storage"]["endpoint_url"] == "http://***@127.0.0.1:7480"
    assert data["time"]["timezone"] == "Asia/Shanghai"


def test_config_file_that_does_not_exist_is_a_clear_error(footage_home):
    result = runner.invoke(app, ["--config", "/nonexistent/footage.toml", "config", "show"])
    assert result.exit_code != 0 and "is not a file" in result.output


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_json_contract(footage_home):
    inbox = footage_home / "elsewhere"
    inbox.mkdir(parents=True)
    make_clip(inbox / "DSJ-C03_3003_20261126080000_0001.MP4", 2, creation_time=None)
    make_clip(inbox / "DSJ-C03_3003_20261126080042_0002.MP4", 2, seed=2)
    (inbox / "junk.bin").write_bytes(b"\x00\x01junk")
    result = runner.invoke(app, ["ingest", "--inbox", str(inbox), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"seen", "ingested", "duplicates", "quarantined", "stored", "sessions", "gaps", "findings", "deadlines"} <= set(doc)
    assert doc["seen"] == 3 and doc["ingested"] == 2 and doc["duplicates"] == 0
    assert doc["quarantined"][0]["file"] == "junk.bin" and doc["quarantined"][0]["reason"] == "not_media"
    for item in doc["stored"]:
        assert set(item) == {"file", "key", "sha256", "retain_until", "version_id", "worker"}
        datetime.fromisoformat(item["retain_until"])
        host, pid = item["worker"].rsplit(":", 1)
        assert int(pid) != os.getpid()  # decoded and stored in a worker process, not this one
    assert set(doc["runner"]) == {"mode", "address", "workers", "processes", "workers_lost"}
    assert doc["runner"]["mode"] == "embedded" and doc["runner"]["address"] is None
    (gap,) = doc["gaps"]
    assert gap["device"] == "DSJ-C03" and gap["seconds"] == pytest.approx(40, abs=0.01)
    assert datetime.fromisoformat(gap["start"]).utcoffset() is not None
    assert datetime.fromisoformat(gap["end"]).isoformat() == "2026-11-26T08:00:42+08:00"


def test_ingest_refuses_a_missing_inbox(footage_home):
    result = runner.invoke(app, ["ingest", "--inbox", "/nonexistent/inbox"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_serve_refuses_without_a_prefect_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    out = subprocess.run(
        [sys.executable, "-m", "flows", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert "needs a Prefect server" in out.stderr and "prefect server start" in out.stderr
    assert "Traceback" not in out.stderr


def test_nightly_deployment_is_a_cron_in_shanghai(footage_home):
    from flows.deployments import build_deployments

    by_name = {d.name: d.schedules[0].schedule for d in build_deployments() if d.schedules}
    assert by_name["nightly-ingest"].cron == "0 2 * * *"
    assert by_name["nightly-ingest"].timezone == "Asia/Shanghai"
    assert by_name["weekly-fixity-audit"].cron == "0 3 * * 0"
    assert by_name["monthly-compliance"].cron == "0 3 1 * *"
    assert {s.timezone for s in by_name.values()} == {"Asia/Shanghai"}


@pytest.mark.slow
def test_demo_runs_on_the_ephemeral_server_without_tracebacks(tmp_path):
    """The README's first command: no Prefect server configured, no traceback, the report shows it all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOOTAGE_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    out = subprocess.run(
        [sys.executable, "-m", "flows", "demo", "--workdir", str(tmp_path / "demo"), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "ERROR" not in out.stderr, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ingested"] == 6 and len(doc["quarantined"]) == 2 and len(doc["gaps"]) == 1
    report = Path(doc["report"]).read_text()
    for needle in ("DSJ-A01", "DSJ-B02", "overlap", "truncated", "not_media"):
        assert needle in report
    # media/demo.py leaves 40 s between DSJ-A01's third and fourth file: the report's gap row says so
    (gap,) = doc["gaps"]
    assert gap["device"] == "DSJ-A01" and gap["seconds"] == pytest.approx(40, abs=0.1)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("|")]
    (row,) = [r for r in rows if any(c.endswith("_0003.MP4") for c in r) and any(c.endswith("_0004.MP4") for c in r)]
    numbers = [float(c) for c in row if re.fullmatch(r"\d+(\.\d+)?", c)]
    assert any(39.9 <= n <= 40.1 for n in numbers), row


def _leaf_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in data.items():
        if isinstance(v, dict) and v and k not in ("categories", "device_priority", "users", "rules", "payload"):
            keys += _leaf_keys(v, f"{prefix}{k}.")
        else:
            keys.append(f"{prefix}{k}")
    return keys


def test_every_setting_is_documented(footage_home):
    from records.settings import Settings

    doc = (ROOT / "docs" / "configuration.md").read_text()
    sections = {}
    for line in doc.splitlines():
        if line.startswith("## "):
            current = line.strip("# `[]")
            sections[current] = []
        elif line.startswith("| `") and sections:
            sections[current] += [k.strip(" `") for k in line.split("|")[1].split(",")]
    missing = []
    for key in _leaf_keys(Settings().model_dump(mode="json")):
        section, _, leaf = key.rpartition(".")
        if leaf not in sections.get(section or "Top level", []):
            missing.append(key)
    assert missing == []


def test_reports_open_with_an_unlocked_bucket_warning(footage_home, monkeypatch):
    from records.settings import load_settings
    from reports.ingest import report_banner
    from records.roles import mode_banner

    monkeypatch.setenv("FOOTAGE_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("FOOTAGE_STORAGE__ALLOW_UNLOCKED", "true")
    settings = load_settings()
    assert "--allow-unlocked" in report_banner(settings)[0]
    assert mode_banner(settings).startswith("WARNING: the S3 bucket has no Object Lock")
    monkeypatch.setenv("FOOTAGE_STORAGE__ALLOW_UNLOCKED", "false")
    assert "Object Lock" not in "".join(report_banner(load_settings()))
