"""records.scratch.ScratchBudget: the scratch the tasks of one machine hold at once is bounded,
across processes, and a killed holder's reservation does not count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from records.scratch import ScratchBudget

HOLDER = """
import sys, time
from pathlib import Path
from records.scratch import ScratchBudget
root, nbytes, marker = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
with ScratchBudget(root, 100, poll_s=0.05).reserve(nbytes):
    marker.write_text(str(time.monotonic()))
    time.sleep(float(sys.argv[4]))
"""


def hold(root: Path, nbytes: int, marker: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(nbytes), str(marker), str(seconds)],
                            cwd=Path(__file__).resolve().parents[2])


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_a_reservation_waits_until_the_budget_has_room(tmp_path):
    first = hold(tmp_path, 70, tmp_path / "first", 3.0)
    wait_for(tmp_path / "first")
    waits = []
    with ScratchBudget(tmp_path, 100, poll_s=0.05).reserve(50, on_wait=lambda used, limit: waits.append(used)):
        # 70 + 50 > 100: it waited, and had its 50 only once the first had let go of its 70
        assert len(waits) == 1
        assert len(list((tmp_path / ".budget").glob("*.json"))) == 1, "reserved while the first held its space"
    first.wait(30)
    assert first.returncode == 0


def test_small_reservations_share_the_budget(tmp_path):
    budget = ScratchBudget(tmp_path, 100, poll_s=0.05)
    with budget.reserve(40), budget.reserve(40):  # 80 <= 100: no wait
        assert len(list((tmp_path / ".budget").glob("*.json"))) == 2
    assert list((tmp_path / ".budget").glob("*.json")) == []


def test_one_task_may_always_run_alone(tmp_path):
    with ScratchBudget(tmp_path, 100).reserve(10_000):  # larger than the budget, nothing else held
        pass


def test_a_killed_holders_reservation_is_released(tmp_path):
    holder = hold(tmp_path, 90, tmp_path / "held", 300.0)
    wait_for(tmp_path / "held")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)

    def waited(used: int, limit: int) -> None:
        pytest.fail(f"waited for {used} bytes of a killed holder")

    with ScratchBudget(tmp_path, 100, poll_s=0.05).reserve(50, on_wait=waited):  # at once, no wait
        pass
