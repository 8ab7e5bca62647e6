"""``footage gaps check`` and ``footage gaps explain``.

``footage gaps check FILE... [--json] [--report]`` probes the files, groups them into sessions,
decodes each once (black, freeze, silence, dropouts, dropped frames, speech, markers) and
applies the session rules (opening statement, article 20; explained interruptions, article 21).
With ``--json`` it prints the document described in :mod:`flows.reports_gaps`.

``footage gaps explain SESSION GAP --text "..." --by OFFICER`` stores a written explanation of a
finding (a gap id such as ``gap-20261120T093000``, or ``opening``) as an object of its own under
``explanations/<session>/<finding>/<UTC time>.json``: stored objects are never edited; a later
explanation supersedes the earlier one (it names it in ``supersedes``). Reports show the latest
and stop flagging the finding.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from media.model import Recording

err = Console(stderr=True)
EXPLANATIONS = "explanations"
_FINDING_ID = re.compile(r"^(opening|gap-\d{8}T\d{6})$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,120}$")


def explanation_prefix(session: str, finding: str | None = None) -> str:
    return f"{EXPLANATIONS}/{session}/" + (f"{finding}/" if finding else "")


def load_explanations(store, session_ids: list[str]) -> dict[str, dict[str, dict]]:
    """session id -> finding id -> the latest explanation (with its ``key``)."""
    out: dict[str, dict[str, dict]] = {}
    for sid in session_ids:
        if not _SESSION_ID.match(sid):
            continue
        latest: dict[str, dict] = {}
        for info in store.list(explanation_prefix(sid)):
            body = json.loads(store.get_bytes(info.key))
            body["key"] = info.key
            finding = body.get("gap")
            if finding and (finding not in latest or body["at"] > latest[finding]["at"]):
                latest[finding] = body
        if latest:
            out[sid] = latest
    return out


def store_explanation(store, settings, session: str, finding: str, text: str, by: str) -> dict[str, Any]:
    """Write one explanation object; returns what was stored (with its key)."""
    if not _SESSION_ID.match(session):
        raise ValueError(f"not a session id: {session!r}")
    if not _FINDING_ID.match(finding):
        raise ValueError(f"not a finding id: {finding!r} (expected 'opening' or gap-YYYYMMDDTHHMMSS)")
    if not text.strip() or not by.strip():
        raise ValueError("an explanation needs a text and the officer who gives it")
    now = datetime.now(timezone.utc)
    previous = load_explanations(store, [session]).get(session, {}).get(finding)
    body = {
        "session": session,
        "gap": finding,
        "text": text.strip(),
        "by": by.strip(),
        "at": now.isoformat(),
        "supersedes": previous["key"] if previous else None,
    }
    key = explanation_prefix(session, finding) + now.strftime("%Y%m%dT%H%M%S%fZ") + ".json"
    s = settings.storage
    days = s.categories.get(s.default_category)
    until = (
        now + timedelta(days=days) if days is not None
        else datetime.fromisoformat(s.evidence_until).replace(tzinfo=timezone.utc)
    )
    store.put(key, json.dumps(body, ensure_ascii=False, sort_keys=True).encode(), retain_until=until,
              content_type="application/json", metadata={"session": session, "finding": finding})
    return {**body, "key": key}


def recording_of(path: Path, settings) -> Recording:
    """Probe one file into a Recording, as the ingest flow does (no storing)."""
    from media.model import CameraKind
    from media.probe import Limits, probe
    from media.timeinfo import identify

    ing = settings.ingest
    limits = Limits(ing.max_width, ing.max_height, ing.max_duration_s, settings.segment.discontinuity_s)
    facts = probe(path, limits)
    who = identify(path, facts.tags, facts.duration, settings.time, path.stat().st_mtime)
    device = who.device or ing.default_device
    kind = who.camera_kind or (
        CameraKind.FIXED if device in ing.fixed_devices else CameraKind.BODY if device in ing.body_devices else CameraKind.UNKNOWN
    )
    return Recording(
        path=str(path), name=path.name, size=facts.size, sha256=facts.sha256, container=facts.container,
        streams=facts.streams, duration=facts.duration, start=who.start, start_source=who.source,
        device_id=device, officer_id=who.officer, camera_kind=kind, sequence=who.sequence,
        origin=str(path.parent), tags=facts.tags, chapters=facts.chapters,
        events=[e.model_copy(update={"device": device}) for e in facts.events + who.events],
    )


def check_files(files: list[Path], settings, report_root: Path | None = None, store=None) -> dict[str, Any]:
    """Probe, segment and check ``files``; the ``--json`` document."""
    from media.probe import MediaError
    from media.segment import segment

    from .reports_gaps import gaps_for_sessions

    recordings, errors = [], []
    for path in files:
        try:
            recordings.append(recording_of(path, settings))
        except MediaError as exc:
            errors.append({"file": str(path), "reason": exc.reason, "message": exc.message})
        except (OSError, ValueError) as exc:
            errors.append({"file": str(path), "reason": type(exc).__name__, "message": str(exc)})
    sessions = segment(recordings, settings.segment)
    explanations = load_explanations(store, [s.id for s in sessions]) if store is not None else {}
    return gaps_for_sessions(sessions, settings.gaps, explanations, report_root, errors=errors)


def _table(doc: dict[str, Any]) -> Table:
    table = Table(title="Footage gaps", show_header=True)
    for col in ("session", "kind", "file", "start", "end", "rule", "explained"):
        table.add_column(col)
    for e in doc["events"]:
        if e["kind"] == "speech":
            continue
        table.add_row(
            e.get("session") or "", e["kind"], Path(e.get("file") or "-").name,
            "" if e.get("start") is None else f"{e['start']:.2f}",
            "" if e.get("end") is None else f"{e['end']:.2f}",
            e.get("rule") or "", "yes" if e.get("explanation") else "",
        )
    return table


def register(app: typer.Typer) -> None:
    gaps_app = typer.Typer(help="Gaps, interruptions and spoken statements (articles 20 and 21).", no_args_is_help=True)
    app.add_typer(gaps_app, name="gaps")

    @gaps_app.command("check")
    def check(
        files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Media files to check."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document (a stable contract)."),
        report: bool = typer.Option(False, "--report", help="Also write gaps.md/gaps.json/timeline.png per session."),
        explained: bool = typer.Option(True, "--explained/--no-explained", help="Read written explanations from the store."),
    ) -> None:
        """Check recordings for gaps, picture/sound faults and the spoken statements."""
        from .config import load_settings

        settings = load_settings()
        store = None
        if explained:
            try:
                from .stores import open_store

                store = open_store(settings)
            except Exception as exc:  # no store reachable: check without explanations, say so
                err.print(f"[yellow]explanations not read:[/] {exc}")
        root = settings.reports / "gaps" if report else None
        doc = check_files(files, settings, root, store)
        if as_json:
            print(json.dumps(doc, ensure_ascii=False, indent=1))
        else:
            Console().print(_table(doc))
            for s in doc["sessions"]:
                err.print(f"{s['id']}: {s['findings']} finding(s)" + (f", report {s['report']}" if s.get("report") else ""))
        for e in doc["errors"]:
            err.print(f"[red]{e['file']}[/]: {e['reason']}")

    @gaps_app.command("explain")
    def explain(
        session: str = typer.Argument(..., help="Session id, as in the gaps report."),
        gap: str = typer.Argument(..., help="Finding id: gap-YYYYMMDDTHHMMSS, or 'opening'."),
        text: str = typer.Option(..., "--text", help="The written explanation."),
        by: str = typer.Option(..., "--by", help="Officer giving it."),
        as_json: bool = typer.Option(False, "--json", help="Print the stored explanation as JSON."),
    ) -> None:
        """Attach a written explanation to a gap or to a missing opening statement."""
        from .config import load_settings
        from .stores import open_store

        settings = load_settings()
        try:
            stored = store_explanation(open_store(settings), settings, session, gap, text, by)
        except ValueError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        if as_json:
            print(json.dumps(stored, ensure_ascii=False, indent=1))
        else:
            err.print(f"stored {stored['key']}" + (f" (supersedes {stored['supersedes']})" if stored["supersedes"] else ""))


def main_app() -> typer.Typer:
    """A stand-alone app with only the gaps commands (for tests and for embedding)."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    return app


__all__ = ["register", "check_files", "load_explanations", "store_explanation", "main_app"]
