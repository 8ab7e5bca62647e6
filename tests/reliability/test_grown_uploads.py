"""A recording that grows during its ingest (issue 23, item 1): stored whole, the part stored first
superseded by the whole in both records' histories, nothing lost, nothing deleted.

An MPEG-TS upload (a container that plays when cut) that pauses longer than the settle window is
taken half-written. Two real ``footage ingest`` processes per test, as in the crash-point suite:

* the writer goes on while the run holds after its audit append, before the file leaves the
  inbox: the file must stay, and the next run store it whole;
* the writer goes on after the file was moved to ``processed/`` (it still had the file open and
  finished into the moved file): the next run must bring it back and store it whole.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faultkit import sha, wait_held
from media.synth import make_clip

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

NAME = "CAM-1_7001_20261120090000_0001.ts"
TS_PACKET = 188


def transport_stream(tmp: Path) -> bytes:
    """A real 6 s H.264 + AAC MPEG-TS recording (ffmpeg's muxer), as a camera's upload writes it."""
    mp4 = tmp / "cam.mp4"
    make_clip(mp4, 6, width=160, height=120, fps=10, seed=7)
    ts = tmp / "cam.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-c", "copy", "-f", "mpegts", str(ts)], check=True)
    return ts.read_bytes()


def halves(data: bytes) -> tuple[bytes, bytes]:
    cut = (len(data) // 2 // TS_PACKET) * TS_PACKET  # an upload cut between two packets
    return data[:cut], data[cut:]


def half_uploaded(tmp: Path) -> tuple[Path, Path, bytes, bytes, bytes]:
    """A FOOTAGE_HOME whose inbox holds the first half of a real MPEG-TS upload: (home, inbox,
    the whole recording, its first half, the rest)."""
    home = tmp / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    data = transport_stream(tmp)
    first, rest = halves(data)
    (inbox / NAME).write_bytes(first)
    return home, inbox, data, first, rest


def run_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return json.loads(result.stdout)


def history_kinds(store, sha256: str) -> dict[str, list[dict]]:
    from records.growth import SUPERSEDED, SUPERSEDES
    from records.history import events_of_kind

    return {kind: events_of_kind(store, sha256, kind) for kind in (SUPERSEDED, SUPERSEDES, "grew_after_store")}


def check_superseded(home: Path, first: bytes, whole: bytes) -> None:
    """Both records stored, locked and intact; the first part superseded by the whole, both ways."""
    from records.audit import AuditLog
    from records.manifest import find_manifest
    from storage import LocalStore

    store = LocalStore(home / "store")
    part, full = sha_of(first), sha_of(whole)
    for record in (part, full):
        manifest = find_manifest(store, record)
        assert manifest is not None, f"record {record[:12]} is not stored"
        assert store.verify(manifest.stored.key, record).ok
        assert store.head(manifest.stored.key).retain_until is not None  # locked, nothing deleted
    part_history, full_history = history_kinds(store, part), history_kinds(store, full)
    assert [e["detail"]["by"] for e in part_history["superseded"]] == [full]
    assert [e["detail"]["record"] for e in full_history["supersedes"]] == [part]
    assert AuditLog(store).verify().ok


def sha_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_file_that_grows_before_it_leaves_the_inbox_stays_and_is_stored_whole(tmp_path):
    home, inbox, data, first, rest = half_uploaded(tmp_path)

    faults = tmp_path / "faults"
    faults.mkdir()
    env_fault = "ingest.after_outcome:hold"
    run = subprocess.Popen([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT,
                           env=_env(home, env_fault, faults), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_held(faults / "ingest.after_outcome.held", run)
        assert (faults / "ingest.after_outcome.held").exists(), run.stderr.read()[-3000:] if run.poll() is not None else ""
        with open(inbox / NAME, "ab") as fh:  # the upload goes on
            fh.write(rest)
        (faults / "ingest.after_outcome.go").touch()
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    summary = json.loads(out)
    assert summary["ingested"] == 1 and summary["still_writing"] == [NAME], (summary, err[-3000:])
    assert sha(inbox / NAME) == sha_of(data)  # the whole file stays in the inbox

    again = run_json(ingest(home))
    assert again["ingested"] == 1 and [s["sha256"] for s in again["stored"]] == [sha_of(data)], again
    assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
    (moved,) = (home / "processed").rglob(NAME)
    assert sha(moved) == sha_of(data)
    check_superseded(home, first, data)
    from storage import LocalStore

    assert history_kinds(LocalStore(home / "store"), sha_of(first))["grew_after_store"]


def test_a_file_that_grows_after_it_left_the_inbox_comes_back_and_is_stored_whole(tmp_path):
    home, inbox, data, first, rest = half_uploaded(tmp_path)

    one = run_json(ingest(home))
    assert one["ingested"] == 1 and one["still_writing"] == [], one
    (moved,) = (home / "processed").rglob(NAME)
    with open(moved, "ab") as fh:  # the writer still had the file open: it finishes into the moved file
        fh.write(rest)

    two = run_json(ingest(home))
    assert two["ingested"] == 1 and [s["sha256"] for s in two["stored"]] == [sha_of(data)], two
    assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
    wholes = [p for p in (home / "processed").rglob("*.ts") if sha(p) == sha_of(data)]
    assert len(wholes) == 1, list((home / "processed").rglob("*"))
    check_superseded(home, first, data)

    three = run_json(ingest(home))  # nothing changed since: nothing comes back
    assert three["seen"] == 0, three


def _env(home: Path, fault: str | None = None, folder: Path | None = None) -> dict[str, str]:
    import os

    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTAGE_") or k == "FOOTAGE_SHARED"}
    env.update(FOOTAGE_HOME=str(home), FOOTAGE_STORAGE__BACKEND="local", FOOTAGE_INGEST__SETTLE_SECONDS="0.1",
               PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_LOGGING_LEVEL="WARNING")
    if fault:
        env.update(FOOTAGE_FAULT=fault, FOOTAGE_FAULT_DIR=str(folder))
    return env


def ingest(home: Path) -> subprocess.CompletedProcess:
    """One real ``footage ingest --json``, to its end."""
    return subprocess.run([sys.executable, "-m", "flows", "ingest", "--json"], cwd=ROOT, env=_env(home),
                          capture_output=True, text=True, timeout=300)
