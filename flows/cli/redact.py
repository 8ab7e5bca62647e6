"""``footage redact FILE --out OUT.mp4``, ``footage redact tracks FILE`` and ``footage disclose ...``.

A redacted file made here is a working copy for review: its metadata says "unreleased". Only the
disclosure flow (``footage disclose``) releases a copy, after a supervisor's approval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

err = Console(stderr=True)


class _DefaultToRender(TyperGroup):
    """``footage redact FILE ...`` means ``footage redact render FILE ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["render", *args]
        return super().parse_args(ctx, args)


class FpsColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:5.1f} fps", style="magenta")


class FrameBars:
    """A Rich bar per stage (detect, render, qa) showing frames done and frames per second."""

    def __init__(self, console: Console = err, enabled: bool = True):
        self.enabled = enabled
        self.bars = Progress(
            TextColumn("{task.description:>7}", style="cyan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("frames"),
            FpsColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.ids: dict[str, Any] = {}

    def __enter__(self):
        if self.enabled:
            self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.bars.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage not in self.ids:
            self.ids[stage] = self.bars.add_task(stage, total=total or None)
        self.bars.update(self.ids[stage], completed=done, total=max(total, done) or None)


def _parse_ids(text: Optional[str]) -> list[int]:
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
    from media.redact import TrackSet, load_spec, qa_pass, redaction_log, render, sha256_file, write_log

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


def register(app: typer.Typer) -> None:
    """Add ``footage redact ...`` and ``footage disclose ...``."""
    register_redact(app)
    register_disclose(app)


def register_redact(app: typer.Typer) -> None:
    redact_app = typer.Typer(
        cls=_DefaultToRender, no_args_is_help=True,
        help="Mask third parties' faces (and voices) in a working copy: FILE --out OUT.mp4, or tracks FILE.",
    )
    app.add_typer(redact_app, name="redact")

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
        from flows.cli import fail

        if out.suffix.lower() != ".mp4":
            fail("--out must end in .mp4")
        if out.resolve() == file.resolve():
            fail("--out must not overwrite the source")
        try:
            with FrameBars(enabled=not as_json and err.is_terminal) as bars:
                summary = render_copy(file, out, spec, _parse_ids(keep), tracks, qa, bars)
        except ValueError as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=1))
        else:
            table = Table(title="Footage redact (working copy, unreleased)")
            table.add_column("what")
            table.add_column("value")
            for k, v in summary.items():
                table.add_row(k, str(v))
            Console().print(table)
        if summary["qa_residuals"]:
            err.print(f"[bold red]QA:[/] {summary['qa_residuals']} residual face(s) found; see {summary['log']}")
            raise typer.Exit(1)

    @redact_app.command("tracks")
    def redact_tracks(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Video to look at."),
        out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder for STEM.tracks.json and STEM.sheet.png."),
        as_json: bool = typer.Option(False, "--json", help="Print the tracks JSON path and a summary."),
    ) -> None:
        """Detect and track faces; write the tracks JSON and a contact sheet to pick the keep-list from."""
        from media.redact import contact_sheet, find_tracks, sha256_file

        out_dir.mkdir(parents=True, exist_ok=True)
        with FrameBars(enabled=not as_json and err.is_terminal) as bars:
            ts = find_tracks(file, progress=bars, sha256=sha256_file(file))
        tracks_path = ts.save(out_dir / f"{file.stem}.tracks.json")
        sheet = contact_sheet(ts, out_dir / f"{file.stem}.sheet.png")
        summary = {"tracks": len(ts.tracks), "frames": ts.frames, "tracks_json": str(tracks_path), "sheet": str(sheet)}
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=1))
            return
        table = Table(title=f"Face tracks in {file.name}")
        for col in ("id", "frames", "time", "detections", "best score"):
            table.add_column(col)
        for t in ts.tracks:
            last = min(t.last, ts.frames - 1)
            table.add_row(str(t.id), f"{t.first}-{last}", f"{t.first / ts.fps:.1f}-{(last + 1) / ts.fps:.1f}s",
                          str(t.hits), f"{max(t.scores):.2f}")
        Console().print(table)
        err.print(f"tracks: {tracks_path}\nsheet:  {sheet}")


def register_disclose(app: typer.Typer) -> None:
    """``footage disclose request|select|approve|reject|override|status``: the headless path of the
    disclosure flow (flows/disclose.py); each step submits typed input to the paused flow run."""
    disclose_app = typer.Typer(no_args_is_help=True, help="Release a party's copy of a record (Article 31).")
    app.add_typer(disclose_app, name="disclose")

    def _server() -> None:
        from flows.cli import fail
        from flows.deployments import require_server

        problem = require_server()
        if problem:
            fail(problem)

    def _show(doc: dict[str, Any], as_json: bool) -> None:
        doc = {k: v for k, v in doc.items() if k != "thread"}
        if as_json:
            print(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
        else:
            Console().print_json(json.dumps(doc, ensure_ascii=False, default=str))

    def _guard(fn, *args, **kwargs):
        from flows.cli import fail
        from flows.disclose import DisclosureError

        try:
            return fn(*args, **kwargs)
        except DisclosureError as exc:
            fail(str(exc))

    AS = typer.Option(None, "--as", help="Acting user (default: FOOTAGE_USER, else the OS user).")

    @disclose_app.command("request")
    def disclose_request(
        record: str = typer.Option(..., "--record", help="Record id (SHA-256 of the original)."),
        requester: str = typer.Option(..., "--requester", help="Who asked for the copy (the party)."),
        reason: str = typer.Option(..., "--reason", help="Why the copy is asked for."),
        file: Optional[Path] = typer.Option(None, "--file", exists=True, dir_okay=False,
                                            help="A local copy of the original (checked against the record id)."),
        as_user: Optional[str] = AS,
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Start a disclosure; returns when the contact sheet is ready and the flow waits for 'select'."""
        from flows.disclose import request
        from records.roles import acting_user

        _server()
        doc = _guard(request, record, requester, reason, acting_user(as_user), str(file) if file else None)
        _show(doc, as_json)

    @disclose_app.command("select")
    def disclose_select(
        run: str = typer.Argument(..., help="Flow run id from 'footage disclose request'."),
        keep: Optional[str] = typer.Option(None, "--keep", help="Track ids to leave visible, e.g. 3,7."),
        spec: Optional[Path] = typer.Option(None, "--spec", exists=True, dir_okay=False,
                                            help="Redaction spec JSON (masks, audio, style, keep)."),
        comment: str = typer.Option("", "--comment"),
        as_user: Optional[str] = AS,
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """The archivist's keep-list and manual masks."""
        from media.redact import load_spec

        from flows.disclose import select, wait_next
        from records.roles import acting_user

        _server()
        s = load_spec(spec, _parse_ids(keep))
        key = _guard(select, run, acting_user(as_user), s.keep, [m.model_dump(mode="json") for m in s.masks],
                     [a.model_dump(mode="json") for a in s.audio], s.style, comment)
        _show(_guard(wait_next, run, key), as_json)

    def _decide(run: str, approve: bool, comment: str, as_user: Optional[str], as_json: bool) -> None:
        from flows.disclose import decide, wait_next
        from records.roles import acting_user

        _server()
        key = _guard(decide, run, acting_user(as_user), approve, comment)
        _show(_guard(wait_next, run, key, 3600), as_json)

    @disclose_app.command("approve")
    def disclose_approve(run: str = typer.Argument(...), comment: str = typer.Option("", "--comment"),
                         as_user: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
        """A supervisor (not the archivist) approves; the flow renders, checks, watermarks, stores."""
        _decide(run, True, comment, as_user, as_json)

    @disclose_app.command("reject")
    def disclose_reject(run: str = typer.Argument(...), comment: str = typer.Option(..., "--comment"),
                        as_user: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
        """A supervisor rejects, with a comment; nothing is released."""
        _decide(run, False, comment, as_user, as_json)

    @disclose_app.command("override")
    def disclose_override(run: str = typer.Argument(...),
                          reason: str = typer.Option("", "--reason", help="Written reason to release anyway."),
                          block: bool = typer.Option(False, "--block", help="Keep the release blocked."),
                          as_user: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
        """After QA found faces: release anyway with a written reason (archivist), or --block."""
        from flows.disclose import override, wait_next
        from records.roles import acting_user

        _server()
        key = _guard(override, run, acting_user(as_user), not block, reason)
        _show(_guard(wait_next, run, key, 3600), as_json)

    @disclose_app.command("status")
    def disclose_status(run: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
        """State of a disclosure run: what it waits for, and its receipt once closed."""
        from flows.disclose import status

        _server()
        _show(_guard(status, run), as_json)
