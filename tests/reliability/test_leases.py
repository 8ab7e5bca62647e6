"""Inbox leases (records/lease.py) taken by real processes racing in lockstep: a name is never held
by two runs at once (issue 23, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from records.lease import FOLDER, InboxLeases

ROOT = Path(__file__).resolve().parents[2]
NAMES = 3000

# each contender waits for the go file, takes every name in the same order, prints what it got and
# stays alive (a lease of a process that is gone is stale, rightly) until its stdin is closed
CONTENDER = """
import json, sys, time
from pathlib import Path
from records.lease import InboxLeases
inbox, go, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
leases = InboxLeases(inbox, ttl_s=600)
while not go.exists():
    time.sleep(0.001)
got = [i for i in range(n) if leases.acquire(f"clip-{i:05d}.MP4") is None]
print(json.dumps(got), flush=True)
sys.stdin.read()
"""


def test_two_runs_in_lockstep_never_hold_one_name_together(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    go = tmp_path / "go"
    runs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(inbox), str(go), str(NAMES)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    time.sleep(1.5)  # both imported and waiting
    go.write_text("go")
    held = [set(json.loads(r.stdout.readline() or "[]")) for r in runs]  # both still alive
    for r in runs:
        _, err = r.communicate(timeout=60)
        assert r.returncode == 0, err[-3000:]
    both = held[0] & held[1]
    assert len(both) == 0, f"{len(both)} of {NAMES} names held by both runs at once"
    assert len(held[0] | held[1]) == NAMES  # and every name taken by one of them
    leases = list((inbox / FOLDER).iterdir())
    assert len(leases) == NAMES and all(json.loads(p.read_text())["file"] for p in leases)  # none empty


def test_an_empty_lease_younger_than_its_ttl_is_held(tmp_path):
    """A lease file without its body (written by an older version, or torn) is held for the TTL,
    counted from its mtime, then stale."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mine = InboxLeases(inbox, ttl_s=60)
    path = mine._path("a.MP4")
    path.parent.mkdir()
    path.write_text("")
    holder = mine.acquire("a.MP4")
    assert holder is not None and holder.get("run") == "unknown"
    old = (datetime.now(timezone.utc) - timedelta(seconds=120)).timestamp()
    os.utime(path, (old, old))
    assert mine.acquire("a.MP4") is None and json.loads(path.read_text())["run"] == mine.run
    mine.release_all()
    assert not (inbox / FOLDER).exists()
