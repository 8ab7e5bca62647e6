"""``footage ingest`` and ``footage demo``: run the ingest flow once, with progress bars and a
summary table (or the ``--json`` document of docs/cli.md).

``demo`` is ``ingest`` over a generated inbox on the local backend, so both share the running
and the display. :mod:`flows.ingest` (Prefect) and :mod:`media.demo` (PyAV) are imported when a
command runs: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from flows import progress
from flows.looks import look_early
from flows.cli.common import PROBLEM_EXIT, Bars, err, fail, load_settings, out, print_json

if TYPE_CHECKING:
    from reports.ingest import IngestSummary


def summary_table(summary: "IngestSummary") -> Table:
    """The ingest summary as a table: counts, with the files or reasons behind them."""
    table = Table(title="Footage ingest", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    table.add_row("seen", str(summary.seen), "")
    table.add_row("ingested", str(summary.ingested), "")
    table.add_row("duplicates", str(summary.duplicates), "")
    table.add_row(
        "quarantined",
        str(len(summary.quarantined)),
        "\n".join(f"{q.file!r}: {q.reason}" for q in summary.quarantined),
    )
    if summary.failed:
        table.add_row("[red]failed[/]", str(len(summary.failed)), "\n".join(f.message or "" for f in summary.failed))
    if summary.still_writing:
        table.add_row("still being written", str(len(summary.still_writing)), "\n".join(summary.still_writing))
    table.add_row("sessions", str(len(summary.sessions)), "\n".join(s.id for s in summary.sessions))
    table.add_row(
        "gaps",
        str(len(summary.gaps)),
        "\n".join(f"{g.device} {g.start} +{g.seconds:.0f}s" for g in summary.gaps),
    )
    table.add_row("report", "", summary.report or "")
    return table


def run_with_progress(inbox: Optional[Path], quiet: bool) -> "IngestSummary":
    """Run the ingest flow once; unless ``quiet``, one bar per file on standard error."""
    # Prefect's per-task log lines would interleave with the bars; the table says it better.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    settings = load_settings()
    look_early(inbox or settings.inbox, settings.ingest.settle_seconds)  # settles while Prefect is imported
    from flows.ingest import run_ingest  # Prefect, see the module docstring

    with Bars(enabled=not quiet) as bars:
        progress.set_listener(bars if not quiet else None)
        try:
            return run_ingest(inbox)
        finally:
            progress.set_listener(None)


def ingest(
    inbox: Optional[Path] = typer.Option(None, "--inbox", help="Folder to ingest (default: $FOOTAGE_HOME/inbox)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (documented in docs/cli.md)."),
) -> None:
    """Run the ingest flow once over the inbox."""
    if inbox is not None and not inbox.is_dir():
        fail(f"inbox {inbox} does not exist or is not a folder")
    summary = run_with_progress(inbox, quiet=as_json or not err.is_terminal)
    if as_json:
        print_json(summary.to_json_dict())
    else:
        out.print(summary_table(summary))
    if summary.error:
        err.print(f"[bold red]the run failed:[/] {summary.error.reason}: {summary.error.message} "
                  "(every file stays in the inbox)", highlight=False)
    if summary.failed or summary.error:
        raise typer.Exit(PROBLEM_EXIT)


def demo(
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where to build the demo (default: $FOOTAGE_HOME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest JSON document."),
) -> None:
    """Generate synthetic footage, ingest it on the local backend and show the report."""
    if workdir is not None:
        os.environ["FOOTAGE_HOME"] = str(workdir.resolve())
    os.environ["FOOTAGE_STORAGE__BACKEND"] = "local"
    from media.demo import build_demo_inbox  # PyAV, see the module docstring

    settings = load_settings()
    settings.ensure_layout()
    made = build_demo_inbox(settings.inbox)
    err.print(f"demo: wrote {len(made)} files into {settings.inbox}")
    summary = run_with_progress(None, quiet=as_json or not err.is_terminal)
    if as_json:
        print_json(summary.to_json_dict())
        return
    out.print(summary_table(summary))
    err.print(f"report: {summary.report}")
