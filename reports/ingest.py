"""The ingest run's summary (the ``footage ingest --json`` contract) and its bilingual report."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from zoneinfo import ZoneInfo

from media.model import Session
from records.findings import GapDocument, as_document
from records.roles import mode_banner
from records.settings import today
from reports.deadlines import deadlines_markdown
from reports.tables import markdown_table
from reports.times import local_time

if TYPE_CHECKING:
    from records.settings import Settings
    from records.deadlines import DeadlineReport
    from records.intake import Outcome

SCHEMA = "footage.ingest/1"


class QuarantinedFile(BaseModel):
    file: str
    reason: str | None
    message: str | None
    moved_to: str | None


class FailedFile(BaseModel):
    file: str
    reason: str | None
    message: str | None


class LeasedFile(BaseModel):
    """A settled file another run holds the lease of (left to it)."""

    file: str
    run: str | None
    host: str | None


class StoredFile(BaseModel):
    file: str
    key: str
    sha256: str | None
    retain_until: str | None  # ISO 8601 with its offset, as the record's lock says
    version_id: str | None
    worker: str | None


class SessionRow(BaseModel):
    """One session of the run (:meth:`media.model.Session.summary`) and its gap report."""

    id: str
    device: str
    start: str
    end: str
    files: list[str]
    recordings: int
    gaps: int
    gaps_report: str | None = None


class GapRow(BaseModel):
    device: str
    session: str | None
    start: str
    end: str
    seconds: float
    before: str | None
    after: str | None


class RunnerInfo(BaseModel):
    """Where the run's tasks ran (docs/cli.md, ``runner``)."""

    mode: str  # embedded | dask
    address: str | None = None
    workers: int | None = None
    processes: list[str] = Field(default_factory=list)
    workers_lost: list[str] = Field(default_factory=list)


class RunError(BaseModel):
    reason: str
    message: str


class IngestSummary(BaseModel):
    """The ``footage ingest --json`` document (docs/cli.md): one run, every file accounted for.

    The fields are in the document's order; :meth:`to_json_dict` leaves out the optional ones the
    run did not set (``error`` only when the run failed as a whole), so the JSON is the contract's.
    ``events``, ``findings`` and ``deadlines`` are the documented shapes of the gap checks and
    the deadline report, kept as those documents are.
    """

    schema_: str = Field(SCHEMA, alias="schema")
    seen: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: list[QuarantinedFile] = Field(default_factory=list)
    failed: list[FailedFile] = Field(default_factory=list)
    still_writing: list[str] = Field(default_factory=list)
    stored: list[StoredFile] = Field(default_factory=list)
    sessions: list[SessionRow] = Field(default_factory=list)
    gaps: list[GapRow] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    leased: list[LeasedFile] | None = None
    hidden: list[str] | None = None
    flow_run: str | None = None
    runner: RunnerInfo | None = None
    deadlines: dict[str, Any] | None = None
    error: RunError | None = None
    report: str | None = None

    model_config = ConfigDict(populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The documented JSON document."""
        unset = {n for n in type(self).model_fields if n not in self.model_fields_set and n != "schema_"}
        return self.model_dump(mode="json", by_alias=True, exclude=unset)  # fields in the document's order


def build_summary(
    outcomes: list["Outcome"], sessions: list[Session], busy: list[str],
    gap_doc: GapDocument | dict[str, Any] | None = None,
) -> IngestSummary:
    """The documented JSON document of one ingest run (see docs/cli.md), before the run's own
    fields (leases, hidden files, runner, deadlines, report) are added; ``gap_doc``: the run's
    :class:`~records.findings.GapDocument` (or its JSON), with its sessions' report paths."""
    doc = as_document(gap_doc) if gap_doc else GapDocument()
    findings = [f.to_json_dict() for f in doc.open_findings()]
    gap_reports = {s.id: s.report for s in doc.sessions}
    ingested = [o for o in outcomes if o.status == "ingested"]
    duplicates = [o for o in outcomes if o.status == "duplicate"]
    quarantined = [o for o in outcomes if o.status == "quarantined"]
    failed = [o for o in outcomes if o.status == "failed"]
    events = [e.model_dump(mode="json", exclude_none=True) for o in ingested if o.recording for e in o.recording.events]
    events += [e.model_dump(mode="json", exclude_none=True) for s in sessions for e in s.events]
    return IngestSummary(
        seen=len(outcomes),
        ingested=len(ingested),
        duplicates=len(duplicates),
        quarantined=[QuarantinedFile(file=o.file, reason=o.reason, message=o.message, moved_to=o.moved_to)
                     for o in quarantined],
        failed=[FailedFile(file=o.file, reason=o.reason, message=o.message) for o in failed],
        still_writing=busy,
        stored=[
            StoredFile(file=o.file, key=o.stored.key, sha256=o.stored.sha256,
                       retain_until=o.stored.retain_until.isoformat() if o.stored.retain_until else None,
                       version_id=o.stored.version_id, worker=o.worker)
            for o in ingested
            if o.stored
        ],
        sessions=[SessionRow(**s.summary(), gaps_report=gap_reports.get(s.id)) for s in sessions],
        gaps=[
            GapRow(device=g.device, session=g.session, start=g.start.isoformat(), end=g.end.isoformat(),
                   seconds=round(g.seconds, 3), before=g.before, after=g.after)
            for s in sessions
            for g in s.gaps
        ],
        events=events,
        findings=findings,
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    return markdown_table(headers, rows, empty="_无 / none_\n")


def _secs(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else ""


def error_summary(exc: BaseException) -> IngestSummary:
    """The JSON document of a run that failed as a whole (storage unreachable before any file
    could be handled, say): nothing counted, every file left where it was, and why."""
    summary = build_summary([], [], busy=[])
    summary.error = RunError(reason=type(exc).__name__, message=str(exc) or type(exc).__name__)
    return summary


def ingest_markdown(summary: IngestSummary, tz_name: str, banner: list[str] | None = None) -> str:
    """The run's summary as bilingual Markdown (zh-CN / en side by side), times in ``tz_name``."""
    tz = ZoneInfo(tz_name)
    out = list(banner or [])
    out += [
        "# 入库报告 / Ingest report",
        "",
        f"时区 / time zone: {tz_name}",
        "",
    ]
    if summary.error:
        e = summary.error
        out += ["## 运行失败 / The run failed", "",
                "所有文件仍留在收件箱，下次运行将重新处理。 / Every file stays in the inbox for the next run.", "",
                f"`{e.reason}`: {e.message}", ""]
    out += [
        _table(
            ["项目 / item", "数量 / count"],
            [
                ["发现文件 / files seen", summary.seen],
                ["已入库 / ingested", summary.ingested],
                ["重复 / duplicates", summary.duplicates],
                ["隔离 / quarantined", len(summary.quarantined)],
                ["失败（留在收件箱） / failed (left in inbox)", len(summary.failed)],
                ["仍在写入（下次处理） / still being written (next run)", len(summary.still_writing)],
                ["其他任务处理中 / being ingested by another run", len(summary.leased or [])],
                ["隐藏文件（不处理） / hidden files (not ingested)", len(summary.hidden or [])],
                ["会话 / sessions", len(summary.sessions)],
                ["中断 / gaps", len(summary.gaps)],
            ],
        ),
        "## 会话 / Sessions",
        "",
        _table(
            ["会话 / session", "设备 / device", "开始 / start", "结束 / end", "文件 / files", "中断 / gaps"],
            [
                [s.id, s.device, local_time(s.start, tz), local_time(s.end, tz), ", ".join(s.files), s.gaps]
                for s in summary.sessions
            ],
        ),
        "## 录像中断 / Gaps between recordings",
        "",
        _table(
            ["设备 / device", "中断开始 / from", "恢复 / resumed", "秒 / seconds", "之前 / before", "之后 / after"],
            [
                [g.device, local_time(g.start, tz), local_time(g.end, tz), g.seconds, g.before, g.after]
                for g in summary.gaps
            ],
        ),
        "## 录像完整性检查 / Recording integrity findings",
        "",
        _table(
            ["类型 / kind", "文件 / file", "开始 / start s", "结束 / end s", "条款 / rule"],
            [
                [e["kind"], e.get("file"), _secs(e.get("start")), _secs(e.get("end")), e.get("rule")]
                for e in summary.findings
            ],
        ),
        "每个会话的详细报告与时间线图 / Per-session reports with a timeline picture: "
        + (", ".join(f"[{s.id}]({s.gaps_report})" for s in summary.sessions if s.gaps_report) or "—"),
        "",
        "## 事件 / Events",
        "",
        _table(
            ["类型 / kind", "文件 / file", "设备 / device", "详情 / detail"],
            [[e["kind"], e.get("file"), e.get("device"), json.dumps(e.get("detail", {}), ensure_ascii=False)] for e in summary.events],
        ),
        "## 隔离 / Quarantined",
        "",
        _table(
            ["文件 / file", "原因 / reason", "说明 / message"],
            [[q.file, q.reason, q.message] for q in summary.quarantined],
        ),
        "## 已存储 / Stored",
        "",
        _table(
            ["文件 / file", "对象 / key", "SHA-256", "保留至 / retain until"],
            [[s.file, s.key, (s.sha256 or "")[:16] + "…", s.retain_until] for s in summary.stored],
        ),
    ]
    if summary.runner:
        r = summary.runner
        where = (f"本机嵌入式集群，{r.workers} 个进程 / embedded cluster of {r.workers} processes on this machine"
                 if r.mode == "embedded" else
                 f"Dask 集群 {r.address}，{r.workers} 个工作进程 / Dask cluster {r.address}, {r.workers} workers")
        out += ["## 运行位置 / Where it ran", "", where, "",
                _table(["工作进程 / worker", "文件数 / files"],
                       [[w, sum(1 for s in summary.stored if s.worker == w)] for w in r.processes])]
        if r.workers_lost:
            out += ["**丢失的工作进程 / workers lost during the run:** " + ", ".join(f"`{w}`" for w in r.workers_lost)
                    + " — 其任务已在其他进程重新执行，未完成的文件留在收件箱。 / Dask ran their tasks again elsewhere; "
                    "files it gave up on stay in the inbox (see Failed).", ""]
    if summary.hidden:
        out += ["## 隐藏文件 / Hidden files in the inbox", "",
                "以点开头的文件及以录像扩展名命名的文件夹（以 / 结尾）不会入库，请确认是否为录像。 / Files whose names "
                "start with a dot, and folders named like a recording (ending in /), are not ingested: "
                "check whether any is a recording.", "", "\n".join(f"- `{h}`" for h in summary.hidden), ""]
    if summary.failed:
        out += ["## 失败 / Failed", "", _table(["文件 / file", "说明 / message"], [[f.file, f.message] for f in summary.failed])]
    return "\n".join(out)


def report_banner(settings: "Settings") -> list[str]:
    """First lines every report carries: warnings an auditor must not miss (zh-CN, then en)."""
    lines = [f"> {b}" for b in (mode_banner(settings, lang=lang) for lang in ("zh-CN", "en")) if b]
    if settings.storage.backend == "local":
        lines.append("> 本地存储后端仅供试用，不具备 WORM 保护。 / The local storage backend is for trying Footage out and is not WORM-grade.")
    if lines:
        lines.append("")
    return lines


def write_ingest_report(
    settings: "Settings", summary: IngestSummary, deadlines: "DeadlineReport | None" = None, day: str | None = None
) -> str:
    """Write ``reports/<day>/ingest.{md,json}``; returns the Markdown (also sets ``summary.report``)."""
    folder = settings.reports / (day or today(settings))
    folder.mkdir(parents=True, exist_ok=True)
    md = ingest_markdown(summary, settings.time.timezone, report_banner(settings))
    if deadlines is not None:
        md += "\n" + deadlines_markdown(deadlines, settings.time.timezone, level=2)
    summary.report = str(folder / "ingest.md")
    (folder / "ingest.json").write_text(json.dumps(summary.to_json_dict(), ensure_ascii=False, indent=1))
    (folder / "ingest.md").write_text(md)
    return md
