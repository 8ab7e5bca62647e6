"""The served nightly run (issue 22): ``footage-ingest/nightly-ingest`` run by ``footage serve``
on a real Prefect server, started as its cron starts it, against ``footage ingest`` on the same
clips; same run, alternating.

Set up once, untimed (``tests/servekit.py``, as tests/served does): a ``prefect server start``
process (SQLite, its scheduler service off) and a ``footage serve`` process on a FOOTAGE_HOME of
its own (local backend, ``FOOTAGE_RUNNER__WORKERS=2``, its runner polling every second), both on
127.0.0.1. Then, each round, on the same ``FOOTAGE_BENCH_CLIPS`` 720p body-camera clips (default
4 x 60 s; :func:`ingestkit.clips`, as bench_ingest_e2e and bench_scaling use):

* **served**: the served home emptied, the clips copied into its inbox, then a flow run created
  from the deployment with the deployment's parameters (``create_flow_run_from_deployment``:
  Scheduled, due now), what Prefect's scheduler service does at the cron's time. ``served_s``:
  from the run's creation to its final state (the server's timestamps), split into the wait for
  the runner's next poll (Scheduled -> Pending), the start of its process (Pending -> Running:
  the spawn, the imports, the flow loaded) and the flow itself (Running -> Completed); beside it
  ``served_tail_s``, how long its process lived on after that (its cluster stopping: waited for,
  untimed, before anything else runs) and ``served_cpu_s`` (footage serve's and its run's CPU
  seconds, from /proc). It must complete, and its summary (the day's ``reports/<day>/ingest.json``
  of that flow run) and the store must hold every clip;
* **command**: ``footage ingest --json`` (:func:`ingestkit.run_footage`: a fresh home holding a
  fresh copy of the clips, the local backend, the same ``FOOTAGE_RUNNER__WORKERS``) with
  ``PREFECT_API_URL`` of the same server: what an operator who has a server runs. ``command_s``:
  its wall time, process start to exit; ``command_completed_s``: from its start to its flow run's
  Completed state on that server (the served time's end point); ``command_startup_s``: to its
  Running state; ``command_cpu_s`` (its processes' CPU seconds);
* **command, temporary server** (not in smoke mode: bench_ingest_e2e's smoke runs that command):
  the same without ``PREFECT_API_URL``, as bench_ingest_e2e runs it (Prefect's temporary server
  part of the time, its database made once before, untimed).

A fresh ingest every round, on both sides. The command gets a fresh home each time. The served
process's home is fixed when ``footage serve`` starts, so each round empties it first (every
folder of it: inbox, processed, store, reports, scratch): the same clips found in the store of an
earlier round would only be verified as duplicates. Distinct clips per round would not do either:
clips made for later indices are later segments of the same two cameras, which the run joins to
the sessions stored before (other work); the same clips re-tagged would be second records of the
same recordings. Emptying is allowed: the local backend's retention is kept by Footage's code,
not by the filesystem (storage/local.py: read-only files in folders we own), and nothing of
``footage serve`` itself lives in the home (each run is a process of its own, gone before the
folder is emptied: :meth:`servekit.Served.wait_idle`).

Rounds alternate which side goes first (round 0: the served run, so that anything still cold on
the machine counts against it); with ``FOOTAGE_BENCH_ROUNDS`` > 1 the best time of each counts.
``extra_info`` (and the printed JSON row, kept in ``benchmarks/.cache/served_results.json``):
per round and best, ``served_s``, ``command_s``, ``ratio`` = served_s / command_s (the issue's:
about 1; of the best times), ``ratio_paired`` (the geometric mean of the rounds' ratios: each
round's pair ran under the same load, the order alternating), ``ratio_to_completed`` =
served_s / command_completed_s, ``cpu_ratio`` = served_cpu_s / command_cpu_s (steadier than wall
time on a shared machine), ``command_temp_s`` and ``ratio_temp``, files stored by each, and whether both found the same black/freeze/silence
intervals (asserted, with every clip stored). No time is asserted.

Run::

    nice .venv/bin/python -m pytest benchmarks/bench_served.py -p no:cacheprovider -s
    FOOTAGE_BENCH_SMOKE=1 .venv/bin/python -m pytest benchmarks/bench_served.py --benchmark-disable -p no:cacheprovider -q
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flows.prefect_env  # noqa: E402,F401  (Prefect defaults before Prefect is imported)
import ingestkit as kit  # noqa: E402
from smoke import SMOKE, setting  # noqa: E402

from servekit import NIGHTLY, Served, serving  # noqa: E402  (tests/servekit.py: pytest's pythonpath holds tests/)

CLIPS = setting("FOOTAGE_BENCH_CLIPS", 4, 2)
SECONDS = setting("FOOTAGE_BENCH_SECONDS", 60, kit.MIN_SECONDS)
ROUNDS = setting("FOOTAGE_BENCH_ROUNDS", 1, 1)
WORKERS = "2"  # the embedded cluster's worker processes, on both sides (the default here: 2 cores)
POLL_S = 1.0  # footage serve's runner looks for due runs this often (Prefect's default: 10 s)
RESULTS = kit.CACHE / "served_results.json"


def states(run_id: UUID | str) -> dict[str, datetime]:
    """State type -> when the flow run first entered it (the server's clock)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        history = sorted(client.read_flow_run_states(UUID(str(run_id))), key=lambda s: s.timestamp)
    out: dict[str, datetime] = {}
    for s in history:
        out.setdefault(s.type.value, s.timestamp)
    return out


def empty(home: Path) -> None:
    """Everything under ``home`` removed: the next run finds a home as fresh as the command's."""
    for child in home.iterdir() if home.is_dir() else []:
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def run_served(served: Served, sources: list[Path]) -> dict:
    """One nightly run of ``footage serve`` over a fresh copy of ``sources``, started as its cron
    starts it; timed from its creation to its final state."""
    served.wait_idle()
    home = served.home
    empty(home)
    kit.copy_inbox(sources, home / "inbox")
    cpu = served.cpu_s()
    run, seen_s = served.run_scheduled(NIGHTLY, poll_s=0.25)
    t = time.monotonic()
    served.wait_idle()  # its process (the cluster stopping) gone before anything else is timed
    tail_s, cpu = time.monotonic() - t, served.cpu_s() - cpu
    assert run.state.is_completed(), served.why(run)
    at = states(run.id)
    summaries = [doc for p in sorted((home / "reports").glob("*/ingest.json"))
                 if (doc := json.loads(p.read_text())).get("flow_run") == str(run.id)]
    assert len(summaries) == 1, f"the served run {run.id} wrote {len(summaries)} ingest reports"
    summary = summaries[0]
    problems = summary.get("error") or summary["failed"] or summary["quarantined"]
    assert summary["ingested"] == len(sources) and not problems, (
        f"the served run ingested {summary['ingested']} of {len(sources)}: {problems}")
    from storage import LocalStore

    originals = [o.key for o in LocalStore(home / "store").list("originals/")]
    assert len(originals) == len(sources), f"the served store holds {len(originals)} originals, not {len(sources)}"
    assert [p for p in (home / "inbox").rglob("*") if p.is_file()] == [], "files left in the served inbox"
    return {
        "seconds": (at["COMPLETED"] - run.created).total_seconds(), "seen_s": seen_s,
        "poll_wait_s": (at["PENDING"] - run.created).total_seconds(),
        "start_s": (at["RUNNING"] - at["PENDING"]).total_seconds(),
        "flow_s": (at["COMPLETED"] - at["RUNNING"]).total_seconds(),
        "tail_s": tail_s, "cpu_s": cpu, "stored": len(summary["stored"]), "originals": len(originals),
        "findings": kit.footage_findings(home, summary),
    }


def run_command(sources: list[Path], work: Path, api: str | None) -> dict:
    """``footage ingest --json`` on a fresh home (:func:`ingestkit.run_footage`), on the Prefect
    server ``api`` (then also: when its flow run completed) or on its temporary one."""
    env = {"FOOTAGE_RUNNER__WORKERS": WORKERS, **({"PREFECT_API_URL": api} if api else {})}
    started = datetime.now().astimezone()
    res = kit.run_footage(sources, work, env)
    res["stored"] = len(res["summary"]["stored"])
    if api:
        at = states(res["summary"]["flow_run"])
        res["completed_s"] = (at["COMPLETED"] - started).total_seconds()
        res["startup_s"] = (at["RUNNING"] - started).total_seconds()  # imports, settle look, flow run made
    return res


@pytest.mark.timeout(3 * 3600)  # three ingests of 4 x 60 s a round, a server and footage serve started
@pytest.mark.skipif(kit.FFMPEG is None, reason="Debian's ffmpeg is not installed (scripts/setup.sh installs it)")
def test_served_nightly_vs_footage_ingest(benchmark, tmp_path):
    sources = kit.clips("720p", CLIPS, SECONDS)
    if not SMOKE:
        kit.warm_prefect_home()
    rounds: list[dict] = []
    findings: dict[str, dict] = {}
    with serving(tmp_path / "served", {"FOOTAGE_RUNNER__WORKERS": WORKERS}, poll_s=POLL_S) as served:
        for r in range(ROUNDS):
            work = tmp_path / f"round{r}"
            row: dict = {"round": r}
            contenders = ["served", "command"] if SMOKE else ["served", "command", "command_temp"]
            if r % 2:
                contenders.reverse()
            row["order"] = contenders
            for who in contenders:
                if who == "served":
                    if r == 0:  # pytest-benchmark's record (run once, untimed, under --benchmark-disable)
                        res = benchmark.pedantic(run_served, args=(served, sources), rounds=1, iterations=1)
                    else:
                        res = run_served(served, sources)
                    row.update(served_s=round(res["seconds"], 2), served_seen_s=round(res["seen_s"], 2),
                               served_poll_wait_s=round(res["poll_wait_s"], 2), served_start_s=round(res["start_s"], 2),
                               served_flow_s=round(res["flow_s"], 2), served_tail_s=round(res["tail_s"], 2),
                               served_cpu_s=round(res["cpu_s"], 1), served_stored=res["stored"])
                elif who == "command":
                    res = run_command(sources, work / who, served.api)
                    row.update(command_s=round(res["seconds"], 2), command_completed_s=round(res["completed_s"], 2),
                               command_startup_s=round(res["startup_s"], 2), command_cpu_s=round(res["cpu_s"], 1), command_stored=res["stored"])
                else:
                    res = run_command(sources, work / who, None)
                    row.update(command_temp_s=round(res["seconds"], 2), command_temp_stored=res["stored"])
                findings[who] = res["findings"]
                shutil.rmtree(work / who, ignore_errors=True)
            row["ratio"] = round(row["served_s"] / row["command_s"], 3)
            row["cpu_ratio"] = round(row["served_cpu_s"] / row["command_cpu_s"], 3)  # steadier on a shared machine
            row["ratio_to_completed"] = round(row["served_s"] / row["command_completed_s"], 3)
            if "command_temp_s" in row:
                row["ratio_temp"] = round(row["served_s"] / row["command_temp_s"], 3)
            rounds.append(row)
            print(f"\nround {r}: " + json.dumps(row), flush=True)

    def best(key: str) -> float | None:
        values = [x[key] for x in rounds if key in x]
        return min(values) if values else None

    served_s, command_s, temp_s = best("served_s"), best("command_s"), best("command_temp_s")
    same = {who: kit.compare(f, findings["command"]) for who, f in findings.items() if who != "command"}
    row = {
        "size": "720p", "clips": CLIPS, "seconds_each": SECONDS, "rounds": ROUNDS, "smoke": SMOKE, "workers": int(WORKERS),
        "poll_s": POLL_S, "served_s": served_s, "command_s": command_s, "ratio": round(served_s / command_s, 3),
        # the geometric mean of each round's ratio: both sides of a pair ran under the same load
        "ratio_paired": round(math.prod(x["ratio"] for x in rounds) ** (1 / len(rounds)), 3),
        "ratio_to_completed": round(served_s / best("command_completed_s"), 3), "goal": "about 1",
        "served_cpu_s": best("served_cpu_s"), "command_cpu_s": best("command_cpu_s"),
        "cpu_ratio": round(best("served_cpu_s") / best("command_cpu_s"), 3),
        "command_temp_s": temp_s, "ratio_temp": round(served_s / temp_s, 3) if temp_s else None,
        "served_stored": min(x["served_stored"] for x in rounds), "command_stored": min(x["command_stored"] for x in rounds),
        "same_findings": {who: s["same"] for who, s in same.items()}, "per_round": rounds, **kit.machine(),
    }
    benchmark.extra_info.update(row)
    print("\n" + json.dumps(row), flush=True)
    kit.record(RESULTS, f"720p-{CLIPS}x{SECONDS:g}s", row)
    assert row["served_stored"] == row["command_stored"] == CLIPS, row
    assert all(s["same"] for s in same.values()), f"the served run and footage ingest found different intervals: {same}"
