"""``footage redact FILE --out OUT.mp4`` and ``footage redact tracks FILE``.

A redacted file made here is a working copy for review: its metadata says "unreleased". Only the
disclosure flow (``footage disclose``, :mod:`flows.cli.disclose`) releases a copy, after a
supervisor's approval.

:mod:`media.redact` is imported inside the commands: it imports onnxruntime and SciPy, which
take seconds that ``footage --help`` and every other command would pay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table
from typer.core import TyperGroup

from flows.cli import common
from flows.cli.common import PROBLEM_EXIT, Bars, err, fail, print_json


class _DefaultToRender(TyperGroup):
    """``footage redact FILE ...`` means ``footage redact render FILE ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["render", *args]
        return super().parse_args(ctx, args)


def parse_keep(text: Optional[str]) -> list[int]:
    """``--keep 3,7``: the track ids to leave visible."""
    if not text:
        return []
    try:
        return sorted({int(x) for x in text.replace(" ", "").split(",") if x})
    except ValueError:
        raise typer.BadParameter(f"--keep takes track ids like 3,7 (got {text!r})", param_hint="--keep") from None


def render_copy(
    file: Path, out: Path, spec_path: Optional[Path] = None, keep: list[int] | None = None,
    tracks_path: Optional[Path] = None, qa: bool = True, progress=None,
) -> dict[str, Any]:
    """Render a working copy with its redaction log and QA report beside it (``OUT.redaction.json``)."""
    from media.redact import TrackSet, load_spec, qa_pass, redaction_log, render, sha256_file, write_log  # see the module docstring

    spec = load_spec(spec_path, keep)
    tracks = TrackSet.load(tracks_path) if tracks_path else None
    result = render(file, out, spec, progress=progress, tracks=tracks)
    log = redaction_log(result)
    report = qa_pass(out, result.tracks, spec.keep, progress=progress) if qa else None
    out_sha = sha256_file(out)
    log_path = write_log(log, out.with_suffix(".redaction.json"), result.source_sha256, out_sha)
    doc = json.loads(log_path.read_text("utf-8"))
    doc["qa"] = report.to_dict() if report else None
    doc["status"] = "unreleased"
    log_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return {
        "source": str(file), "source_sha256": result.source_sha256, "out": str(out), "out_sha256": out_sha,
        "frames": result.frames, "fps": round(result.fps, 3), "tracks": len(result.tracks.tracks),
        "masked_tracks": sorted(k for k, v in result.masked_frames.items() if v),
        "kept": spec.keep, "manual_masks": len(spec.masks), "audio_ranges": len(spec.audio),
        "qa_residuals": len(report.residuals) if report else None, "log": str(log_path),
    }


redact_app = typer.Typer(
    cls=_DefaultToRender, no_args_is_help=True,
    help="Mask third parties' faces (and voices) in a working copy: FILE --out OUT.mp4, or tracks FILE.",
)


@redact_app.command("render")
def redact_render(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Video to redact."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the redacted MP4."),
    spec: Optional[Path] = typer.Option(None, "--spec", exists=True, dir_okay=False,
                                        help="Redaction spec JSON (keep-list, manual masks, audio ranges)."),
    keep: Optional[str] = typer.Option(None, "--keep", help="Track ids to leave visible, e.g. 3,7."),
    tracks: Optional[Path] = typer.Option(None, "--tracks", exists=True, dir_okay=False,
                                          help="Tracks JSON from 'footage redact tracks' (ids as on the sheet)."),
    qa: bool = typer.Option(True, "--qa/--no-qa", help="Run the independent QA pass on the output."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Render a redacted working copy (H.264/AAC MP4, marked unreleased)."""
    if out.suffix.lower() != ".mp4":
        fail("--out must end in .mp4")
    if out.resolve() == file.resolve():
        fail("--out must not overwrite the source")
    try:
        with Bars(enabled=not as_json and err.is_terminal, unit="frames") as bars:
            summary = render_copy(file, out, spec, parse_keep(keep), tracks, qa, bars)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(summary)
    else:
        table = Table(title="Footage redact (working copy, unreleased)")
        table.add_column("what")
        table.add_column("value")
        for k, v in summary.items():
            table.add_row(k, str(v))
        common.out.print(table)  # ``out`` is the --out parameter here
    if summary["qa_residuals"]:
        err.print(f"[bold red]QA:[/] {summary['qa_residuals']} residual face(s) found; see {summary['log']}")
        raise typer.Exit(PROBLEM_EXIT)


@redact_app.command("tracks")
def redact_tracks(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Video to look at."),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder for STEM.tracks.json and STEM.sheet.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the tracks JSON path and a summary."),
) -> None:
    """Detect and track faces; write the tracks JSON and a contact sheet to pick the keep-list from."""
    from media.redact import contact_sheet, find_tracks, sha256_file  # see the module docstring

    out_dir.mkdir(parents=True, exist_ok=True)
    with Bars(enabled=not as_json and err.is_terminal, unit="frames") as bars:
        ts = find_tracks(file, progress=bars, sha256=sha256_file(file))
    tracks_path = ts.save(out_dir / f"{file.stem}.tracks.json")
    sheet = contact_sheet(ts, out_dir / f"{file.stem}.sheet.png")
    summary = {"tracks": len(ts.tracks), "frames": ts.frames, "tracks_json": str(tracks_path), "sheet": str(sheet)}
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"Face tracks in {file.name}")
    for col in ("id", "frames", "time", "detections", "best score"):
        table.add_column(col)
    for t in ts.tracks:
        last = min(t.last, ts.frames - 1)
        table.add_row(str(t.id), f"{t.first}-{last}", f"{t.first / ts.fps:.1f}-{(last + 1) / ts.fps:.1f}s",
                      str(t.hits), f"{max(t.scores):.2f}")
    common.out.print(table)
    err.print(f"tracks: {tracks_path}\nsheet:  {sheet}")
