"""The gap report of a session: ``gaps.md`` (zh-CN, then en), ``gaps.json`` and ``timeline.png``.

The document it renders comes from :mod:`records.findings` (its docstring describes the contract).
Times shown to people are in the configured zone (``settings.time.timezone``, the ``tz`` argument);
offsets inside a file stay seconds from its start, as the contract has them. matplotlib is
imported inside the drawing functions only: it costs about a second of start-up to every command
that loads this module without drawing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from media.model import Recording, Session
from records.findings import INFO_KINDS, FindingRow, GapDocument, GapRows, as_document
from reports.fonts import cjk_fonts
from reports.tables import markdown_table
from reports.times import CLOCK, local_time

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    "speech_window": ("语音检测范围", "listened for speech"),
    "marker": ("设备标记", "device marker"),
    "missing_opening_statement": ("缺少开场语音说明", "missing opening statement"),
    "unexplained_interruption": ("中断后未说明原因", "unexplained interruption"),
    "clock_disagreement": ("设备时钟不一致", "clock disagreement"),
    "weak_start_time": ("开始时间来源不可靠", "weak start time"),
}
TEXT = {
    "zh-CN": {
        "title": "录像完整性检查", "session": "执法过程", "device": "设备", "span": "时间", "zone": "时区",
        "files": "文件", "findings": "发现的问题", "none": "未发现问题。", "markers": "设备标记",
        "speech": "语音片段", "cols": ["#", "类型", "文件", "时段", "检测方法", "数据", "依据", "书面说明"],
        "explained": "已书面说明", "timeline": "时间轴", "seconds": "秒",
        "listened": "语音检测范围（规则只在这些时段读取语音；其余时段未检测）",
        "reasons": {"opening": "开场说明", "resume": "中断恢复后"},
    },
    "en": {
        "title": "Recording completeness check", "session": "Session", "device": "Device", "span": "Time", "zone": "time zone",
        "files": "Files", "findings": "Findings", "none": "No findings.", "markers": "Device markers",
        "speech": "Speech segments", "cols": ["#", "kind", "file", "time", "detector", "figures", "rule", "written explanation"],
        "explained": "explained in writing", "timeline": "Timeline", "seconds": "s",
        "listened": "Listened for speech (the rules read speech only here; elsewhere it was not listened for)",
        "reasons": {"opening": "opening statement", "resume": "after a resume"},
    },
}


def _fmt_time(row: FindingRow, tz: str, unit: str = "") -> str:
    """Seconds from the start of the row's file (the session clock for a gap), with ``unit`` after
    them, and, where the row has absolute times, the clock time in ``tz`` that people compare with
    their notes: ``20.0–60.0 s (17:00:20–17:01:00)``."""
    if row.start is None:
        return "-"
    if row.end is None or row.end == row.start:
        text = f"{row.start:.1f}"
        clock = local_time(row.at, tz, CLOCK)
    else:
        text = f"{row.start:.1f}–{row.end:.1f}"
        clock = "–".join(local_time(t, tz, CLOCK) for t in (row.at, row.until)) if row.until else ""
    text = f"{text} {unit}" if unit else text
    return f"{text} ({clock})" if clock else text


def _figures(detail: dict) -> str:
    skip = {"detector", "id", "metadata"}
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k not in skip and v is not None)


def markdown(session_doc: GapRows, lang: str = "zh-CN", picture: str | None = None, *, tz: str) -> str:
    """One session's findings as Markdown.

    Parameters
    ----------
    session_doc : GapRows
        The :mod:`records.findings` document of one session (:meth:`GapDocument.of_session`).
    lang : {"zh-CN", "en"}
    picture : str, optional
        File name of the timeline picture to show under the header.
    tz : str
        The configured zone: the session's span, clock times of findings and the times of
        written explanations are shown in it.
    """
    t = TEXT[lang]
    idx = 0 if lang == "zh-CN" else 1
    s = session_doc.sessions[0]
    rows = session_doc.events
    lines = [
        f"## {t['title']} — {t['session']} {s.id}",
        "",
        f"- {t['device']}: {s.device}",
        f"- {t['span']}: {local_time(s.start, tz)} – {local_time(s.end, tz)} ({t['zone']} {tz})",
        # numbered as in the timeline picture, where a bar carries its number, not its long name
        f"- {t['files']}: {', '.join(f'#{i} {name}' for i, name in enumerate(s.files, 1))}",
        "",
    ]
    if picture:
        lines += [f"![{t['timeline']}]({picture})", ""]
    findings = [r for r in rows if r.kind not in INFO_KINDS]
    lines += [f"### {t['findings']}", ""]
    if not findings:
        lines += [t["none"], ""]
    else:
        cells = []
        for i, r in enumerate(findings, 1):
            label = KIND_LABELS.get(r.kind, (r.kind, r.kind))[idx]
            ex = r.explanation
            note = f"{t['explained']}: {ex.text} ({ex.by}, {local_time(ex.at, tz)})" if ex else ""
            cells.append([i, label, Path(r.file or "-").name, _fmt_time(r, tz), r.detail.get("detector", ""),
                          _figures(r.detail), r.rule, note])
        lines += [markdown_table(t["cols"], cells)]
    for kind, title in (("speech", t["speech"]), ("speech_window", t["listened"]), ("marker", t["markers"])):
        items = [r for r in rows if r.kind == kind]
        if items:
            lines += [f"### {title}", ""]
            lines += [f"- {Path(r.file).name} {_fmt_time(r, tz, t['seconds'])}" + _item_note(r, t) for r in items]
            lines.append("")
    return "\n".join(lines)


def _item_note(row: FindingRow, t: dict) -> str:
    """What follows a listed speech window or marker: why it was listened in, the marker's title."""
    if row.kind == "marker":
        return f" {row.detail.get('title') or row.detail.get('value') or ''}"
    if row.kind == "speech_window":
        return f" ({t['reasons'].get(row.detail.get('reason'), row.detail.get('reason'))})"
    return ""


# -- the timeline picture -----------------------------------------------------------------------
#: lanes top to bottom: (key, zh-CN, en)
LANES = [("recordings", "录像", "recordings"), ("black", "黑屏", "black"), ("freeze", "冻结", "freeze"),
         ("silence", "静音", "silence"), ("speech", "语音", "speech"), ("markers", "标记", "markers")]
Y = {key: len(LANES) - i for i, (key, _, _) in enumerate(LANES)}  # the top lane highest
BANDS = {"black": "black", "freeze": "tab:blue", "silence": "tab:gray", "speech": "tab:green"}
#: recordings alternate these, with a white edge, so chained segments read as separate bars
RECORDING_COLOURS = ("#4C72B0", "#8DA0CB")
#: explained? -> (colour, hatch, zh-CN, en)
GAP_STYLE = {False: ("#D62728", "///", "未说明", "unexplained"), True: ("#2CA02C", "..", "已说明", "explained")}
RULE_KINDS = ("missing_opening_statement", "unexplained_interruption")
NAME_CHARS = 18  # a file name longer than this is cut from the left: the end tells segments apart


def _offset(rec: Recording, session: Session) -> float:
    return (rec.start - session.start).total_seconds()


def length_label(seconds: float) -> str:
    """A gap's length for a label: ``"40 s"``, ``"2 min 5 s"``, ``"1 h 3 min"``.

    Examples
    --------
    >>> length_label(39.6), length_label(125), length_label(3780)
    ('40 s', '2 min 5 s', '1 h 3 min')
    """
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f} s" if seconds < 9.95 else f"{total} s"
    if total < 3600:
        m, s = divmod(total, 60)
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else "…" + name[-(NAME_CHARS - 1):]


def _officers(session: Session) -> str | None:
    return ", ".join(sorted({r.officer_id for r in session.recordings if r.officer_id})) or None


def timeline_figure(session: Session, rows: Sequence[FindingRow], *, tz: str) -> "Figure":
    """The session as a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state).

    Each recording is a numbered bar (colours alternate, white edges between chained segments;
    its file name, shortened, above it in one of two staggered rows); each gap a hatched band
    labelled with its length and whether it was explained in writing (red: unexplained, green:
    explained); black/freeze/silence/speech as bands in their lanes (a dashed outline where
    speech was listened for), markers as lines, rule findings not explained as triangles. The x axis is clock time in ``tz``; the title names the
    session, device and officer in zh-CN and en; a legend explains every mark drawn.

    Parameters
    ----------
    session : Session
    rows : sequence of FindingRow
        The session's events from the :mod:`records.findings` document.
    tz : str
        The configured zone for the clock times on the x axis and in the title.
    """
    # matplotlib is imported here and in the helpers, not at the top: it takes a while to load
    # and most commands never draw
    from matplotlib.figure import Figure

    offsets = {r.path: _offset(r, session) for r in session.recordings}
    legend: dict[str, Any] = {}  # one handle per kind of mark drawn, in drawing order
    with cjk_fonts():
        fig = Figure(figsize=(11, 4.8), dpi=110, layout="constrained")
        ax = fig.add_subplot()
        _draw_recordings(ax, session, offsets, legend)
        _draw_events(ax, rows, offsets, legend)
        _axes_and_title(ax, session, tz)
        fig.legend(handles=list(legend.values()), loc="outside lower center", ncol=min(len(legend), 4),
                   fontsize=7, frameon=False)
    return fig


def _span(session: Session) -> float:
    return max((session.end - session.start).total_seconds(), 1.0)


def _draw_recordings(ax, session: Session, offsets: dict[str, float], legend: dict[str, Any]) -> None:
    """Numbered bars in alternating colours, with the shortened file names above them."""
    from matplotlib.patches import Patch

    yr, span = Y["recordings"], _span(session)
    for k, rec in enumerate(session.recordings):
        start, colour = offsets[rec.path], RECORDING_COLOURS[k % len(RECORDING_COLOURS)]
        ax.broken_barh([(start, rec.duration)], (yr - 0.35, 0.7), facecolors=colour, edgecolors="white",
                       linewidth=1.5)
        ax.text(start + rec.duration / 2, yr, str(k + 1), ha="center", va="center", fontsize=8,
                color="white", fontweight="bold", clip_on=True)
        # two rows of names: neighbours never share a row, so short segments do not overprint;
        # a name in the last quarter ends where its bar ends, so it stays inside the picture
        right = start > 0.75 * span
        ax.text(start + rec.duration if right else start, yr + 0.45 + 0.4 * (k % 2), f"#{k + 1} {_short(rec.name)}",
                ha="right" if right else "left", va="bottom", fontsize=6.5, gid="recording-label")
    legend["recording"] = Patch(facecolor=RECORDING_COLOURS[0], edgecolor="white",
                                label="录像（编号见报告） recording (# as in the report)")


def _draw_events(ax, rows: Sequence[FindingRow], offsets: dict[str, float], legend: dict[str, Any]) -> None:
    """Gaps as labelled bands across every lane; the other events in their own lanes."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    yr = Y["recordings"]
    for row in rows:
        kind = row.kind
        if kind == "gap":
            explained = row.explanation is not None
            colour, hatch, zh, en = GAP_STYLE[explained]
            ax.axvspan(row.start, row.end, facecolor=colour, alpha=0.18, hatch=hatch, edgecolor=colour,
                       linewidth=0)
            seconds = row.detail.get("seconds", row.end - row.start)
            ax.text((row.start + row.end) / 2, yr, f"{length_label(seconds)}\n{zh} {en}", ha="center",
                    va="center", fontsize=8, color=colour, gid="gap-label",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": colour})
            legend[f"gap-{explained}"] = Patch(facecolor=colour, alpha=0.35, hatch=hatch, edgecolor=colour,
                                               label=f"中断 {zh} gap, {en}")
            continue
        if row.start is None:
            continue
        base = offsets.get(row.file, 0.0)  # other events count from the start of their file
        start, end = base + row.start, base + (row.end or row.start)
        if kind in BANDS:
            ax.broken_barh([(start, max(end - start, 0.05))], (Y[kind] - 0.35, 0.7), facecolors=BANDS[kind])
            zh, en = KIND_LABELS[kind]
            legend[kind] = Patch(facecolor=BANDS[kind], label=f"{zh} {en}")
        elif kind == "speech_window":  # an outline around the speech bands heard in it
            ax.broken_barh([(start, max(end - start, 0.05))], (Y["speech"] - 0.45, 0.9), facecolors="none",
                           edgecolors="tab:green", linestyles="dashed", linewidth=0.8)
            legend[kind] = Patch(facecolor="none", edgecolor="tab:green", linestyle="dashed",
                                 label="语音检测范围 listened for speech")
        elif kind == "marker":
            ax.vlines(start, Y["markers"] - 0.4, Y["markers"] + 0.4, colors="tab:purple")
            legend[kind] = Line2D([], [], color="tab:purple", label="设备标记 device marker")
        elif kind in RULE_KINDS and row.explanation is None:
            ax.plot([start], [yr - 0.5], marker="^", color="tab:orange", markersize=8, linestyle="none")
            legend["rule"] = Line2D([], [], marker="^", color="tab:orange", linestyle="none",
                                    label="未说明的规则问题 rule finding, unexplained")


def _axes_and_title(ax, session: Session, tz: str) -> None:
    """Lane names, clock times in ``tz`` along x, and the zh/en title naming device and officer."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    span, t0 = _span(session), session.start
    ax.set_yticks([Y[key] for key, _, _ in LANES], [f"{zh} {en}" for _, zh, en in LANES], fontsize=8)
    ax.set_ylim(0.4, len(LANES) + 1.4)  # room above the top lane for the two rows of names
    ax.set_xlim(-0.02 * span, 1.02 * span)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: local_time(t0 + timedelta(seconds=x), tz, CLOCK)))
    ax.set_xlabel(f"时间 time ({tz})", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    who = _officers(session)
    day = local_time(t0, tz, "%Y-%m-%d")
    ax.set_title(f"执法过程 {session.id} — 设备 {session.device}，执法人员 {who or '未知'}，{day}\n"
                 f"Session {session.id} — device {session.device}, officer {who or 'unknown'}, {day}", fontsize=9)


def timeline(session: Session, rows: Sequence[FindingRow], path: Path, *, tz: str) -> Path:
    """Write :func:`timeline_figure` as a PNG at ``path`` and return ``path``."""
    with cjk_fonts():  # text is laid out again when saved: the CJK font must still be first
        timeline_figure(session, rows, tz=tz).savefig(path)
    return path


def write_session_report(folder: Path, session: Session, doc: GapDocument | Mapping[str, Any], *,
                         tz: str) -> dict[str, Path]:
    """Write ``gaps.json``, ``gaps.md`` (zh-CN, then en) and ``timeline.png`` of one session.

    ``doc`` is a :class:`records.findings.GapDocument` (or its JSON) that holds this session
    (others in it are ignored); ``tz`` is the configured zone, in which times are shown.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mine = as_document(doc).of_session(session.id)
    png = timeline(session, mine.events, folder / "timeline.png", tz=tz)
    (folder / "gaps.json").write_text(json.dumps(mine.to_json_dict(), ensure_ascii=False, indent=1))
    md = markdown(mine, "zh-CN", png.name, tz=tz) + "\n---\n\n" + markdown(mine, "en", png.name, tz=tz)
    (folder / "gaps.md").write_text(md)
    return {"md": folder / "gaps.md", "json": folder / "gaps.json", "png": png}


def write_session_reports(root: Path, sessions: Sequence[Session], doc: GapDocument | dict[str, Any], *,
                          tz: str) -> None:
    """Write every session's report under ``root/<session id>/`` and note its path in ``doc``
    (``SessionFindings.report``).

    ``doc`` may still be the document's JSON (the ingest flow's, until it takes the model): then
    the path is noted in its ``sessions`` entries (``"report"``).
    """
    model = as_document(doc)
    for session in sessions:
        paths = write_session_report(Path(root) / session.id, session, model, tz=tz)
        for entry in model.sessions:
            if entry.id == session.id:
                entry.report = str(paths["md"])
        if not isinstance(doc, GapDocument):
            for entry in doc["sessions"]:
                if entry["id"] == session.id:
                    entry["report"] = str(paths["md"])
