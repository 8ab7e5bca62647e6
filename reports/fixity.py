"""The fixity audit's report as people read it: Markdown and JSON under ``<reports>/<date>/``."""

from __future__ import annotations

import json
from pathlib import Path

from records.fixity import FixityReport
from records.settings import Settings, today
from reports.tables import markdown_table


def to_markdown(report: FixityReport) -> str:
    """The audit as Markdown (English): counts, the verdict and a table of the problems found."""
    lines = []
    if report.warning:
        lines += [f"**{report.warning}**", ""]
    c = report.counts
    lines += [
        "# Fixity audit",
        "",
        f"- store: `{report.store}`",
        f"- started: {report.started.isoformat()}, finished: {report.finished.isoformat()}",
        f"- manifests: {report.manifests}, sampled {report.sample_pct:g}%: {report.checked} checked, "
        f"{report.bytes_read / 2**20:.1f} MiB re-hashed",
        f"- ok {c.ok}, **mismatched {c.mismatch}**, **missing {c.missing}**, "
        f"**overwritten {c.overwritten}**, **locked shorter {c.retention_short}**, "
        f"bad manifests {c.bad_manifest}, errors {c.error}",
        "",
        "Result: " + ("every checked object matches its manifest, locked as it records." if report.ok
                      else "**problems found.**"),
    ]
    if report.problems:
        lines += ["", markdown_table(
            ["status", "record", "key", "version", "detail"],
            [[r.status, f"`{r.sha256}`", f"`{r.key}`", r.version_id, r.detail] for r in report.problems],
        ).rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_report(report: FixityReport, settings: Settings) -> dict[str, Path]:
    """Write ``fixity.md`` and ``fixity.json`` under ``<reports>/<date>/``; returns their paths."""
    folder = settings.reports / today(settings)
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "fixity.md", folder / "fixity.json"
    md.write_text(to_markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return {"markdown": md, "json": js}
