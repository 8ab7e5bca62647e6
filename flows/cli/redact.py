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
    """``--keep 3,7,T2``: the track ids to leave visible (``T2``: text track 2, as on the sheet)."""
    from media.redact.spec import parse_track_id  # pure pydantic, cheap

    if not text:
        return []
    try:
        return sorted({parse_track_id(x) for x in text.replace(" ", "").split(",") if x})
    except ValueError:
        raise typer.BadParameter(f"--keep takes track ids like 3,7,T2 (got {text!r})", param_hint="--keep") from None


def render_copy(
    file: Path, out: Path, spec_path: Optional[Path] = None, keep: list[int] | None = None,
    tracks_path: Optional[Path] = None, qa: bool = True, progress=None,
    text: Optional[bool] = None, mask_osd: Optional[bool] = None,
) -> dict[str, Any]:
    """Render a working copy with its redaction log and QA report beside it (``OUT.redaction.json``).

    ``text`` / ``mask_osd`` (None: as the spec says, by default text masked and the display kept)
    switch third parties' text and the camera's display.
    """
    from media.redact import TrackSet, load_spec, qa_pass, redaction_log, render, sha256_file, write_log  # see the module docstring

    spec = load_spec(spec_path, keep)
    if text is not None:
        spec.text.enabled = text
    if mask_osd is not None:
        spec.text.mask_osd = mask_osd
    tracks = TrackSet.load(tracks_path) if tracks_path else None
    result = render(file, out, spec, progress=progress, tracks=tracks)
    log = redaction_log(result)
    # The QA pass looks for text whenever text redaction is on (the tracks JSON may predate it).
    report = qa_pass(out, result.tracks, spec.keep, progress=progress,
                     text=spec.text if spec.text.enabled else None) if qa else None
    out_sha = sha256_file(out)
    log_path = write_log(log, out.with_suffix(".redaction.json"), result.source_sha256, out_sha)
    doc = json.loads(log_path.read_text("utf-8"))
    doc["qa"] = report.to_dict() if report else None
    doc["status"] = "unreleased"
    log_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return {
        "source": str(file), "source_sha256": result.source_sha256, "out": str(out), "out_sha256": out_sha,
        "frames": result.frames, "fps": round(result.fps, 3),
        "tracks": sum(t.kind == "face" for t in result.tracks.tracks),
        "text_tracks": sum(t.kind == "text" for t in result.tracks.tracks),
        "osd_tracks": sum(t.kind == "osd" for t in result.tracks.tracks),
        "masked_tracks": sorted(k for k, v in result.masked_frames.items() if v),
        "kept": spec.keep, "manual_masks": len(spec.masks), "audio_ranges": len(spec.audio),
        "qa_residuals": len(report.residuals) if report else None,
        "qa_text_residuals": len(report.text_residuals) if report else None, "log": str(log_path),
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
    text: Optional[bool] = typer.Option(None, "--text/--no-text",
                                        help="Mask third parties' text (plates, documents, screens); default on."),
    mask_osd: Optional[bool] = typer.Option(None, "--mask-osd/--keep-osd",
                                            help="Mask the camera's own display too (default: kept)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Render a redacted working copy (H.264/AAC MP4, marked unreleased): faces and third parties'
    text masked, the camera's display kept."""
    if out.suffix.lower() != ".mp4":
        fail("--out must end in .mp4")
    if out.resolve() == file.resolve():
        fail("--out must not overwrite the source")
    try:
        with Bars(enabled=not as_json and err.is_terminal, unit="frames") as bars:
            summary = render_copy(file, out, spec, parse_keep(keep), tracks, qa, bars, text, mask_osd)
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
    if summary["qa_residuals"] or summary["qa_text_residuals"]:
        err.print(f"[bold red]QA:[/] {summary['qa_residuals']} residual face(s), {summary['qa_text_residuals']} "
                  f"residual text box(es) found; see {summary['log']}")
        raise typer.Exit(PROBLEM_EXIT)


@redact_app.command("tracks")
def redact_tracks(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Video to look at."),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder for STEM.tracks.json and STEM.sheet.png."),
    text: bool = typer.Option(True, "--text/--no-text", help="Also find and track text (T1, T2 ...) and the display."),
    as_json: bool = typer.Option(False, "--json", help="Print the tracks JSON path and a summary."),
) -> None:
    """Detect and track faces and text; write the tracks JSON and a contact sheet to pick the keep-list from."""
    from media.redact import contact_sheet, find_tracks, sha256_file  # see the module docstring
    from media.redact.spec import TextConfig, track_label

    out_dir.mkdir(parents=True, exist_ok=True)
    with Bars(enabled=not as_json and err.is_terminal, unit="frames") as bars:
        ts = find_tracks(file, progress=bars, sha256=sha256_file(file), text=TextConfig() if text else None)
    tracks_path = ts.save(out_dir / f"{file.stem}.tracks.json")
    sheet = contact_sheet(ts, out_dir / f"{file.stem}.sheet.png")
    summary = {"tracks": sum(t.kind == "face" for t in ts.tracks),
               "text_tracks": sum(t.kind == "text" for t in ts.tracks),
               "osd_tracks": sum(t.kind == "osd" for t in ts.tracks),
               "text_dropped": ts.text_stats.get("dropped", 0),
               "frames": ts.frames, "tracks_json": str(tracks_path), "sheet": str(sheet)}
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"Face and text tracks in {file.name}")
    for col in ("id", "kind", "frames", "time", "detections", "best score", "read"):
        table.add_column(col)
    for t in ts.tracks:
        last = min(t.last, ts.frames - 1)
        kind = t.kind if t.kind == "face" else ("display (kept)" if t.kind == "osd" else t.what or "text")
        read = "" if t.kind == "face" else f"{t.text} ({t.read_score:.2f})"
        table.add_row(track_label(t.id), kind, f"{t.first}-{last}", f"{t.first / ts.fps:.1f}-{(last + 1) / ts.fps:.1f}s",
                      str(t.hits), f"{max(t.scores):.2f}", read)
    common.out.print(table)
    err.print(f"tracks: {tracks_path}\nsheet:  {sheet}")
