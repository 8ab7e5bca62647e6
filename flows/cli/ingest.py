"""``footage ingest``, ``footage serve`` and ``footage demo``."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows import progress

err = Console(stderr=True)


class BarListener:
    """One Rich progress bar per file, advanced by the ingest tasks."""

    def __init__(self, bars: Progress):
        self.bars = bars
        self.ids: dict[str, Any] = {}
        self.totals: dict[str, int] = {}
        self.lock = threading.Lock()

    def file_started(self, name: str, steps: int) -> None:
        with self.lock:
            self.ids[name] = self.bars.add_task(name, total=steps, status="")
            self.totals[name] = steps

    def file_step(self, name: str, step: str) -> None:
        if name in self.ids:
            self.bars.update(self.ids[name], advance=1, status=step)

    def file_done(self, name: str, status: str) -> None:
        if name in self.ids:
            self.bars.update(self.ids[name], completed=self.totals[name], status=status)


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Footage ingest", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    table.add_row("seen", str(summary["seen"]), "")
    table.add_row("ingested", str(summary["ingested"]), "")
    table.add_row("duplicates", str(summary["duplicates"]), "")
    table.add_row(
        "quarantined",
        str(len(summary["quarantined"])),
        "\n".join(f"{q['file']!r}: {q['reason']}" for q in summary["quarantined"]),
    )
    if summary["failed"]:
        table.add_row("[red]failed[/]", str(len(summary["failed"])), "\n".join(f["message"] for f in summary["failed"]))
    if summary["still_writing"]:
        table.add_row("still being written", str(len(summary["still_writing"])), "\n".join(summary["still_writing"]))
    table.add_row("sessions", str(len(summary["sessions"])), "\n".join(s["id"] for s in summary["sessions"]))
    table.add_row(
        "gaps",
        str(len(summary["gaps"])),
        "\n".join(f"{g['device']} {g['start']} +{g['seconds']:.0f}s" for g in summary["gaps"]),
    )
    table.add_row("report", "", summary.get("report", ""))
    return table


def quiet_prefect() -> None:
    """Keep Prefect's per-task chatter off the terminal (the bars and the table say it better)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def run_with_progress(inbox: Optional[Path], quiet: bool) -> dict[str, Any]:
    quiet_prefect()
    from flows.ingest import run_ingest

    if quiet:
        return run_ingest(inbox)
    bars = Progress(
        TextColumn("{task.description}", style="cyan"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    with bars:
        progress.set_listener(BarListener(bars))
        try:
            return run_ingest(inbox)
        finally:
            progress.set_listener(None)


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        inbox: Optional[Path] = typer.Option(None, "--inbox", help="Folder to ingest (default: $FOOTAGE_HOME/inbox)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document (documented in docs/cli.md)."),
    ) -> None:
        """Run the ingest flow once over the inbox."""
        from flows.cli import fail

        if inbox is not None and not inbox.is_dir():
            fail(f"inbox {inbox} does not exist or is not a folder")
        summary = run_with_progress(inbox, quiet=as_json or not err.is_terminal)
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=1))
        else:
            Console().print(summary_table(summary))
        if summary["failed"]:
            raise typer.Exit(1)

    @app.command()
    def serve() -> None:
        """Serve the scheduled deployments (nightly ingest) so they appear in the Prefect UI."""
        from flows.cli import fail
        from flows.deployments import build_deployments, require_server

        problem = require_server()
        if problem:
            fail(problem)
        from prefect import serve as prefect_serve

        deployments = build_deployments()
        for d in deployments:
            err.print(f"serving [bold]{d.name}[/] on {d.schedules[0].schedule}")
        prefect_serve(*deployments)

    @app.command()
    def demo(
        workdir: Optional[Path] = typer.Option(
            None, "--workdir", help="Where to build the demo (default: $FOOTAGE_HOME)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the ingest JSON document."),
    ) -> None:
        """Generate synthetic footage, ingest it on the local backend and show the report."""
        from media.demo import build_demo_inbox

        if workdir is not None:
            os.environ["FOOTAGE_HOME"] = str(workdir.resolve())
        os.environ["FOOTAGE_STORAGE__BACKEND"] = "local"
        from records.settings import load_settings

        settings = load_settings()
        settings.ensure_layout()
        made = build_demo_inbox(settings.inbox)
        err.print(f"demo: wrote {len(made)} files into {settings.inbox}")
        summary = run_with_progress(None, quiet=as_json or not err.is_terminal)
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=1))
            return
        Console().print(summary_table(summary))
        err.print(f"report: {summary.get('report')}")
