"""Runtime plumbing of a flow run: the temporary Prefect server a killed run leaves behind.

With no ``PREFECT_API_URL`` Prefect starts a temporary API server as a child process (uvicorn,
about 220 MB, a port held) and stops it when the run's process exits normally. A run killed with
SIGKILL cannot stop it: the server lives on, orphaned. Each run therefore notes its temporary
server's process id in ``FOOTAGE_HOME/run/``; the next run stops every noted server whose run is
gone. Only processes noted this way are touched, never a server somebody started on purpose.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from records.lease import process_alive

MARK = "prefect.server.api.server:create_app"  # in the command line of Prefect's API server


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def note_temporary_server(run_dir: Path) -> Path | None:
    """Note this process's temporary Prefect server (if it runs one) under ``run_dir``."""
    servers = [c for c in _children(os.getpid()) if MARK in _cmdline(c)]
    if not servers:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"prefect-server.{os.getpid()}.json"
    path.write_text(json.dumps({"run_pid": os.getpid(), "server_pids": servers}))
    return path


def stop_orphaned_servers(run_dir: Path) -> list[int]:
    """Stop the temporary servers of noted runs that are gone; returns the pids stopped."""
    stopped = []
    for note in sorted(Path(run_dir).glob("prefect-server.*.json")) if Path(run_dir).is_dir() else []:
        try:
            body = json.loads(note.read_text())
        except (OSError, ValueError):
            note.unlink(missing_ok=True)
            continue
        if process_alive(int(body.get("run_pid", 0))):
            continue  # its run still goes on
        for pid in body.get("server_pids", []):
            if process_alive(pid) and MARK in _cmdline(pid):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
        note.unlink(missing_ok=True)
    return stopped


def forget_temporary_server(note: Path | None) -> None:
    """A run that ends normally: Prefect stops its own server, the note goes."""
    if note is not None:
        note.unlink(missing_ok=True)
