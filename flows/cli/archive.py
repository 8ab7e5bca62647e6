"""``footage archive FILE --profile remux|ffv1|access --out PATH``: one archive output, on its own.

:mod:`media.archive` (PyAV) is imported inside the command: see :mod:`flows.cli.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from flows.cli.common import PROBLEM_EXIT, Bars, err, fail, load_settings, print_json


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
    from media.archive import ArchiveError, Profile, decide, make_access, make_master  # PyAV

    try:
        settings = load_settings().archive
    except Exception as e:  # a broken footage.toml is reported, not hidden
        raise typer.BadParameter(f"configuration: {e}") from e
    try:
        chosen = Profile(profile) if profile else Profile(decide(file, settings.policy).value)
    except ValueError:
        raise typer.BadParameter(f"{profile!r} is not one of remux, ffv1, access", param_hint="--profile")
    suffix = settings.access_suffix if chosen is Profile.ACCESS else settings.master_suffix
    dest = out or file.with_name(file.stem + suffix)

    with Bars(enabled=not as_json and err.is_terminal) as bars:
        try:
            if chosen is Profile.ACCESS:
                result = make_access(file, dest, settings=settings, progress=bars, overwrite=force)
            else:
                result = make_master(file, dest, action=chosen.value, settings=settings, progress=bars, overwrite=force)
        except ArchiveError as e:
            bars.stop()
            fail(str(e), PROBLEM_EXIT)
    if as_json:
        print_json(result.model_dump(mode="json"), indent=2)
        return
    err.print(f"[green]{result.action}[/] {dest}  {result.size / 1e6:.1f} MB  sha256 {result.sha256}")
    for c in result.checks:
        if "method" in c and "units" in c:
            err.print(f"  verified {c['kind']} stream {c['source_index']} -> {c['master_index']}: {c['units']} {c['method']} identical")
    for d in result.dropped:
        err.print(f"  [yellow]not carried:[/] stream {d['index']} ({d['kind']})")
