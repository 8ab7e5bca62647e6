"""Where the time of a cluster run goes (issue 12): one ``footage ingest --json`` of the
bench_scaling clips through a ``clusterkit`` cluster, with

* CPU seconds of every process of the cluster (Prefect server, dask scheduler, each dask worker,
  the ``footage ingest`` flow process), sampled from /proc every 0.5 s, before and during the run;
* a per-second timeline of each process's CPU use (100 % = one core);
* the flow run and its task runs from Prefect's API, relative to the command's start;
* optionally (``--pyspy PATH``) py-spy's collapsed stacks of the flow process / the server.

Run::

    .venv/bin/python benchmarks/profile_scaling.py --workers 2 --out /tmp/prof

Not a test: nothing is asserted; it prints a breakdown and writes ``OUT/profile.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import ingestkit as kit  # noqa: E402
from clusterkit import cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """utime + stime of ``pid`` (seconds), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class Sampler(threading.Thread):
    """Cumulative CPU of groups of processes (a root pid and its descendants), every ``period`` s."""

    def __init__(self, period: float = 0.5):
        super().__init__(daemon=True)
        self.period = period
        self.roots: dict[str, int] = {}
        self.seen: dict[str, dict[int, float]] = defaultdict(dict)  # group -> pid -> last cpu
        self.threads: dict[str, dict[tuple[int, str], float]] = defaultdict(dict)  # group -> (tid, name) -> cpu
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stop = threading.Event()

    def add(self, group: str, pid: int) -> None:
        self.roots[group] = pid

    def sample(self) -> None:
        now = time.time()
        row = {}
        children: dict[int, list[int]] = defaultdict(list)  # one scan of /proc per sample
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                children[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
            except (OSError, IndexError):
                continue

        def below(pid: int) -> list[int]:
            out, todo = [], list(children.get(pid, []))
            while todo:
                out.append(todo.pop())
                todo += children.get(out[-1], [])
            return out

        for group, root in list(self.roots.items()):
            for pid in [root, *below(root)]:
                c = cpu_of(pid)
                if c:
                    self.seen[group][pid] = max(c, self.seen[group].get(pid, 0.0))
                for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
                    try:
                        head, tail = (task / "stat").read_text().rsplit(")", 1)
                    except OSError:
                        continue
                    f = tail.split()
                    key = (int(task.name), head.split("(", 1)[1])
                    self.threads[group][key] = max((int(f[11]) + int(f[12])) / TICK, self.threads[group].get(key, 0.0))
            row[group] = sum(self.seen[group].values())
        self.samples.append((now, row))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.period)
        self.sample()

    def cpu_between(self, t0: float, t1: float) -> dict[str, float]:
        def at(t: float) -> dict[str, float]:
            best = self.samples[0][1]
            for ts, row in self.samples:
                if ts > t:
                    break
                best = row
            return best

        a, b = at(t0), at(t1)
        return {g: round(b.get(g, 0.0) - a.get(g, 0.0), 2) for g in b}


def api(url: str, path: str, body: dict | None = None) -> object:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--out", type=Path, default=Path("/tmp/footage-profile"))
    ap.add_argument("--pyspy", type=Path, default=None, help="py-spy binary: record the flow process and the server")
    ap.add_argument("--flow-only", action="store_true", help="with --pyspy: record the flow process only")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds of idle cluster measured before the run")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sources = kit.clips("720p", args.clips, args.seconds)
    work = out / "work"
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    with cluster(n_workers=args.workers, nthreads=1, tmp=work / "cluster") as c:
        s = Sampler()
        s.add("prefect-server", c.server.pid)
        s.add("scheduler", c.scheduler.pid)
        for i, w in enumerate(c.workers):
            s.add(f"worker{i}", w.pid)
        s.start()
        time.sleep(args.idle)
        idle_t0, idle_t1 = s.samples[0][0], time.time()
        before = {g: dict(t) for g, t in s.threads.items()}  # each thread's CPU when the run starts
        home = work / "footage-home"
        kit.copy_inbox(sources, home / "inbox")
        env = kit.footage_env(home, c.env)
        cmd = [str(kit.FOOTAGE), "ingest", "--json"]
        spies = []
        if args.pyspy:
            cmd = [str(args.pyspy), "record", "--format", os.environ.get("PYSPY_FORMAT", "raw"), "-r", "50", "--idle", "--threads",
                   "-o", str(out / "flow.pyspy.txt"), "--", *cmd]
        if args.pyspy and not args.flow_only:
            spies.append(subprocess.Popen([str(args.pyspy), "record", "--format", "raw", "-r", "50", "--subprocesses",
                                           "-o", str(out / "server.pyspy.txt"), "--pid", str(c.server.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            spies.append(subprocess.Popen([str(args.pyspy), "record", "--format", "raw", "-r", "50", "--subprocesses",
                                           "-o", str(out / "scheduler.pyspy.txt"), "--pid", str(c.scheduler.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for i, w in enumerate(c.workers):
                spies.append(subprocess.Popen([str(args.pyspy), "record", "--format", "raw", "-r", "50", "--subprocesses",
                                               "-o", str(out / f"worker{i}.pyspy.txt"), "--pid", str(w.pid)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        t0 = time.time()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        s.add("flow", p.pid)
        stdout, stderr = p.communicate()
        t1 = time.time()
        time.sleep(0.5)
        s.stop.set()
        s.join()
        for sp in spies:
            sp.send_signal(2)
        for sp in spies:
            try:
                sp.wait(30)
            except subprocess.TimeoutExpired:
                sp.kill()
        (out / "stderr.txt").write_text(stderr)
        summary = json.JSONDecoder().raw_decode(stdout[stdout.index("{"):])[0]
        fr = api(c.api_url, f"/flow_runs/{summary['flow_run']}")
        trs = api(c.api_url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [summary["flow_run"]]}}, "limit": 200})
        n_logs = len(api(c.api_url, "/logs/filter", {"limit": 200}))
        try:
            n_events = api(c.api_url, "/events/filter", {"limit": 50}).get("total")
        except Exception as exc:  # noqa: BLE001
            n_events = f"{type(exc).__name__}"

    wall = t1 - t0
    print(f"\nwall {wall:.1f} s, {args.workers} workers, ingested {summary['ingested']}, load {os.getloadavg()}")
    idle = s.cpu_between(idle_t0, idle_t1)
    print(f"idle cluster CPU over {idle_t1 - idle_t0:.1f} s: {idle}")
    run_cpu = s.cpu_between(t0, t1 + 0.5)
    print(f"run CPU s: {run_cpu}  total {sum(run_cpu.values()):.1f} of {2 * wall:.1f} core-s")
    print("CPU s per thread during the run (threads that used over 0.1 s):")
    for group, threads in s.threads.items():
        used = {k: c - before.get(group, {}).get(k, 0.0) for k, c in threads.items()}
        top = sorted(used.items(), key=lambda x: -x[1])
        print(f"  {group}: " + ", ".join(f"{tid}:{name} {c:.2f}" for (tid, name), c in top if c > 0.1))
    rel = lambda t: None if t is None else round(t - t0, 2)  # noqa: E731
    print(f"flow run: created {rel(ts(fr['created']))} start {rel(ts(fr['start_time']))} end {rel(ts(fr['end_time']))}")
    rows = sorted(((rel(ts(tr["start_time"])), rel(ts(tr["end_time"])), tr["name"], tr["state_type"]) for tr in trs),
                  key=lambda r: (r[0] is None, r[0] or 0))
    print(f"{len(rows)} task runs, {n_logs} log rows, events {n_events}")
    for r in rows:
        print(f"  {r[0]!s:>7} {r[1]!s:>7}  {r[2]:<20} {r[3]}")
    print("per-second CPU % (flow / server / scheduler / workers):")
    groups = ["flow", "prefect-server", "scheduler"] + [f"worker{i}" for i in range(args.workers)]
    print("   t  " + " ".join(f"{g[:8]:>8}" for g in groups))
    sec = 0.0
    timeline = []
    while sec < wall + 0.5:
        d = s.cpu_between(t0 + sec, t0 + sec + 1)
        timeline.append({"t": sec, **d})
        print(f"{sec:5.0f} " + " ".join(f"{100 * d.get(g, 0):8.0f}" for g in groups))
        sec += 1
    (out / "profile.json").write_text(json.dumps({
        "wall": wall, "idle": idle, "run_cpu": run_cpu, "flow_run": fr, "task_runs": rows, "timeline": timeline,
        "summary_runner": summary.get("runner"), "load": os.getloadavg(),
    }, indent=1, default=str))


if __name__ == "__main__":
    main()
