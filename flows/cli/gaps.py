"""``footage gaps check`` and ``footage gaps explain``.

``footage gaps check FILE... [--json] [--report]`` probes the files, groups them into sessions,
decodes each once (black, freeze, silence, dropouts, dropped frames, speech, markers) and
applies the session rules (opening statement, article 20; explained interruptions, article 21).
With ``--json`` it prints the document described in :mod:`records.findings`.

``footage gaps explain SESSION GAP --text "..." --by OFFICER`` stores a written explanation of a
finding (a gap id such as ``gap-20261120T093000``, or ``opening``) as an object of its own under
``explanations/<session>/<finding>/<UTC time>.json``: stored objects are never edited; a later
explanation supersedes the earlier one (it names it in ``supersedes``). Reports show the latest
and stop flagging the finding.

:mod:`records.findings` (PyAV), :mod:`reports.gaps` and the records modules that import
:mod:`records.settings` are imported inside the commands: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from flows.cli.common import context, err, fail, load_settings, out, print_json

if TYPE_CHECKING:
    from records.findings import GapDocument

gaps_app = typer.Typer(help="Gaps, interruptions and spoken statements (articles 20 and 21).", no_args_is_help=True)


def _table(doc: GapDocument) -> Table:
    table = Table(title="Footage gaps", show_header=True)
    for col in ("session", "kind", "file", "start", "end", "rule", "explained"):
        table.add_column(col)
    for e in doc.events:
        if e.kind == "speech":
            continue
        table.add_row(
            e.session or "", e.kind, Path(e.file or "-").name,
            "" if e.start is None else f"{e.start:.2f}",
            "" if e.end is None else f"{e.end:.2f}",
            e.rule or "", "yes" if e.explanation else "",
        )
    return table


@gaps_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Media files to check."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (a stable contract)."),
    report: bool = typer.Option(False, "--report", help="Also write gaps.md/gaps.json/timeline.png per session."),
    explained: bool = typer.Option(True, "--explained/--no-explained", help="Read written explanations from the store."),
) -> None:
    """Check recordings for gaps, picture/sound faults and the spoken statements."""
    # see the module docstring
    from records.findings import check_files
    from records.store import open_store
    from reports.gaps import write_session_reports

    settings = load_settings()
    store = None
    if explained:
        try:
            store = open_store(settings)
        except Exception as exc:  # no store reachable: check without explanations, say so
            err.print(f"[yellow]explanations not read:[/] {exc}")
    doc, sessions = check_files(files, settings, store)
    if report:
        write_session_reports(settings.reports / "gaps", sessions, doc, tz=settings.time.timezone)
    if as_json:
        print_json(doc.to_json_dict())
    else:
        out.print(_table(doc))
        for s in doc.sessions:
            err.print(f"{s.id}: {s.findings} finding(s)" + (f", report {s.report}" if s.report else ""))
    for e in doc.errors:
        err.print(f"[red]{e.file}[/]: {e.reason}")

@gaps_app.command("explain")
def explain(
    session: str = typer.Argument(..., help="Session id, as in the gaps report."),
    gap: str = typer.Argument(..., help="Finding id: gap-YYYYMMDDTHHMMSS, or 'opening'."),
    text: str = typer.Option(..., "--text", help="The written explanation."),
    by: str = typer.Option(..., "--by", help="Officer giving it."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored explanation as JSON."),
) -> None:
    """Attach a written explanation to a gap or to a missing opening statement."""
    from records.explanations import store_explanation  # see the module docstring

    settings, store, _ = context(None)
    try:
        stored = store_explanation(store, settings, session, gap, text, by)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(stored.as_written())
    else:
        err.print(f"stored {stored.key}" + (f" (supersedes {stored.supersedes})" if stored.supersedes else ""))
