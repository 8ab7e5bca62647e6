"""The gap report of a session: ``gaps.md`` (zh-CN, then en), ``gaps.json`` and ``timeline.png``.

The document it renders comes from :mod:`records.findings` (its docstring describes the contract).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from media.model import Recording, Session
from records.findings import INFO_KINDS

KIND_LABELS: dict[str, tuple[str, str]] = {
    "gap": ("录制中断（文件之间）", "gap between recordings"),
    "overlap": ("录像时间重叠", "overlapping recordings"),
    "discontinuity": ("文件内时间戳跳变", "timestamp jump in a file"),
    "dropped_frames": ("丢帧", "dropped frames"),
    "black": ("黑屏（镜头遮挡）", "black picture (lens covered)"),
    "freeze": ("画面冻结", "frozen picture"),
    "silence": ("静音", "silence"),
    "no_audio": ("无音频轨", "no audio stream"),
    "audio_dropout": ("音频中断", "audio dropout"),
    "duration_mismatch": ("音视频时长不一致", "audio and video lengths differ"),
    "speech": ("语音", "speech"),
    "marker": ("设备标记", "device marker"),
    "missing_opening_statement": ("缺少开场语音说明", "missing opening statement"),
    "unexplained_interruption": ("中断后未说明原因", "unexplained interruption"),
    "clock_disagreement": ("设备时钟不一致", "clock disagreement"),
    "weak_start_time": ("开始时间来源不可靠", "weak start time"),
}
TEXT = {
    "zh-CN": {
        "title": "录像完整性检查", "session": "执法过程", "device": "设备", "span": "时间",
        "files": "文件", "findings": "发现的问题", "none": "未发现问题。", "markers": "设备标记",
        "speech": "语音片段", "cols": ["#", "类型", "文件", "时段", "检测方法", "数据", "依据", "书面说明"],
        "explained": "已书面说明", "timeline": "时间轴", "seconds": "秒",
    },
    "en": {
        "title": "Recording completeness check", "session": "Session", "device": "Device", "span": "Time",
        "files": "Files", "findings": "Findings", "none": "No findings.", "markers": "Device markers",
        "speech": "Speech segments", "cols": ["#", "kind", "file", "time", "detector", "figures", "rule", "written explanation"],
        "explained": "explained in writing", "timeline": "Timeline", "seconds": "s",
    },
}


def _offset(rec: Recording, session: Session) -> float:
    return (rec.start - session.start).total_seconds()


def _fmt_time(row: dict) -> str:
    if row.get("start") is None:
        return "-"
    if row.get("end") is None or row["end"] == row["start"]:
        return f"{row['start']:.1f}"
    return f"{row['start']:.1f}–{row['end']:.1f}"


def _figures(detail: dict) -> str:
    skip = {"detector", "id", "metadata"}
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k not in skip and v is not None)


def markdown(session_doc: dict[str, Any], lang: str = "zh-CN", picture: str | None = None) -> str:
    """One session's findings as Markdown in ``lang`` ("zh-CN" or "en")."""
    t = TEXT[lang]
    idx = 0 if lang == "zh-CN" else 1
    s = session_doc["sessions"][0]
    rows = session_doc["events"]
    lines = [
        f"## {t['title']} — {t['session']} {s['id']}",
        "",
        f"- {t['device']}: {s['device']}",
        f"- {t['span']}: {s['start']} – {s['end']}",
        f"- {t['files']}: {', '.join(s['files'])}",
        "",
    ]
    if picture:
        lines += [f"![{t['timeline']}]({picture})", ""]
    findings = [r for r in rows if r["kind"] not in INFO_KINDS]
    lines += [f"### {t['findings']}", ""]
    if not findings:
        lines += [t["none"], ""]
    else:
        lines += ["| " + " | ".join(t["cols"]) + " |", "|" + "---|" * len(t["cols"])]
        for i, r in enumerate(findings, 1):
            label = KIND_LABELS.get(r["kind"], (r["kind"], r["kind"]))[idx]
            ex = r.get("explanation")
            note = f"{t['explained']}: {ex['text']} ({ex['by']}, {ex['at']})" if ex else ""
            cells = [str(i), label, Path(r["file"] or "-").name, _fmt_time(r), str(r["detail"].get("detector", "")),
                     _figures(r["detail"]), r.get("rule") or "", note]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        lines.append("")
    for kind, title in (("speech", t["speech"]), ("marker", t["markers"])):
        items = [r for r in rows if r["kind"] == kind]
        if items:
            lines += [f"### {title}", ""]
            lines += [f"- {Path(r['file']).name} {_fmt_time(r)} {t['seconds'] if r.get('start') is not None else ''}"
                      + (f" {r['detail'].get('title') or r['detail'].get('value') or ''}" if kind == "marker" else "")
                      for r in items]
            lines.append("")
    return "\n".join(lines)


def timeline(session: Session, rows: Sequence[dict], path: Path) -> Path:
    """A PNG of the session: recordings as bars, gaps red, black/freeze/silence/speech bands,
    markers as lines, rule findings as triangles. The x axis is minutes from the session start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = ["recordings", "black", "freeze", "silence", "speech", "markers"]
    colors = {"black": "black", "freeze": "tab:blue", "silence": "tab:gray", "speech": "tab:green"}
    offsets = {r.path: _offset(r, session) for r in session.recordings}
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    y = {name: len(lanes) - i for i, name in enumerate(lanes)}
    ax.broken_barh([(offsets[r.path] / 60, r.duration / 60) for r in session.recordings], (y["recordings"] - 0.35, 0.7),
                   facecolors="tab:olive")
    for r in session.recordings:
        ax.text(offsets[r.path] / 60, y["recordings"] + 0.4, r.name, fontsize=6, va="bottom")
    for row in rows:
        kind = row["kind"]
        if kind == "gap":
            ax.axvspan(row["start"] / 60, row["end"] / 60, color="red", alpha=0.3)
            continue
        if row.get("start") is None:
            continue
        base = offsets.get(row.get("file"), 0.0)
        start, end = (base + row["start"]) / 60, (base + (row.get("end") or row["start"])) / 60
        if kind in colors:
            ax.broken_barh([(start, max(end - start, 1e-3))], (y[kind] - 0.35, 0.7), facecolors=colors[kind])
        elif kind == "marker":
            ax.vlines(start, y["markers"] - 0.4, y["markers"] + 0.4, colors="tab:purple")
        elif kind in ("missing_opening_statement", "unexplained_interruption") and not row.get("explanation"):
            ax.plot([start], [y["recordings"] - 0.5], marker="^", color="tab:orange", markersize=8)
    ax.set_yticks([y[n] for n in lanes], lanes)
    ax.set_xlabel("minutes from session start")
    ax.set_title(f"{session.id} ({session.device})", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_session_report(folder: Path, session: Session, doc: dict[str, Any]) -> dict[str, Path]:
    """Write ``gaps.json``, ``gaps.md`` (zh-CN, then en) and ``timeline.png`` of one session.

    ``doc`` is a :func:`document` that holds this session (others in it are ignored).
    """
    folder.mkdir(parents=True, exist_ok=True)
    mine = {
        "sessions": [s for s in doc["sessions"] if s["id"] == session.id],
        "events": [e for e in doc["events"] if e.get("session") == session.id],
    }
    png = timeline(session, mine["events"], folder / "timeline.png")
    (folder / "gaps.json").write_text(json.dumps(mine, ensure_ascii=False, indent=1))
    md = markdown(mine, "zh-CN", png.name) + "\n---\n\n" + markdown(mine, "en", png.name)
    (folder / "gaps.md").write_text(md)
    return {"md": folder / "gaps.md", "json": folder / "gaps.json", "png": png}


def write_session_reports(root: Path, sessions: Sequence[Session], doc: dict[str, Any]) -> None:
    """Write every session's report under ``root/<session id>/`` and note its path in ``doc``."""
    for session in sessions:
        paths = write_session_report(Path(root) / session.id, session, doc)
        for entry in doc["sessions"]:
            if entry["id"] == session.id:
                entry["report"] = str(paths["md"])
