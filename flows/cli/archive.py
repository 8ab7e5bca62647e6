"""``footage archive FILE --profile remux|ffv1|access --out PATH``: one archive output, on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

err = Console(stderr=True)


def _settings():
    from media.archive import ArchiveSettings

    try:
        from records.settings import load_settings

        return getattr(load_settings(), "archive", None) or ArchiveSettings()
    except Exception as e:  # a broken footage.toml is reported, not hidden
        raise typer.BadParameter(f"configuration: {e}") from e


def archive_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The original media file (only read)."),
    profile: Optional[str] = typer.Option(
        None, "--profile", "-p", help="remux | ffv1 | access (default: what the format policy says for FILE)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: beside FILE, .master.mkv / .access.mp4)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write a verified archive master (remux / FFV1) or an access copy of FILE."""
    from media.archive import ArchiveError, Profile, decide, make_access, make_master

    settings = _settings()
    try:
        chosen = Profile(profile) if profile else Profile(decide(file, settings.policy).value)
    except ValueError:
        raise typer.BadParameter(f"{profile!r} is not one of remux, ffv1, access", param_hint="--profile")
    suffix = settings.access_suffix if chosen is Profile.ACCESS else settings.master_suffix
    dest = out or file.with_name(file.stem + suffix)

    columns = (TextColumn("{task.description:>10}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bars:
        ids: dict[str, int] = {}

        def progress(stage: str, done: float, total: float) -> None:
            if stage not in ids:
                ids[stage] = bars.add_task(stage, total=total or None)
            bars.update(ids[stage], completed=min(done, total) if total else done)

        try:
            if chosen is Profile.ACCESS:
                result = make_access(file, dest, settings=settings, progress=progress, overwrite=force)
            else:
                result = make_master(file, dest, action=chosen.value, settings=settings, progress=progress, overwrite=force)
        except ArchiveError as e:
            bars.stop()
            err.print(f"[bold red]error:[/] {e}")
            raise typer.Exit(1)
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    err.print(f"[green]{result.action}[/] {dest}  {result.size / 1e6:.1f} MB  sha256 {result.sha256}")
    for c in result.checks:
        if "method" in c and "units" in c:
            err.print(f"  verified {c['kind']} stream {c['source_index']} -> {c['master_index']}: {c['units']} {c['method']} identical")
    for d in result.dropped:
        err.print(f"  [yellow]not carried:[/] stream {d['index']} ({d['kind']})")


def register(app: typer.Typer) -> None:
    """Add ``footage archive`` to the CLI."""
    app.command("archive")(archive_command)
