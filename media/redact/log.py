"""The redaction (exemption) log: what was masked or kept, where, why, on what legal basis.

Entries are :class:`media.model.Event` objects of kind ``redaction`` (or ``kept_visible``), in
zh-CN and en, stored beside the output as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from media.model import Event

from .render import RenderResult, masked_tracks
from .spec import LEGAL_BASES, track_label
from .text import WHAT

__all__ = ["redaction_log", "write_log", "ARTICLE"]

#: The article a basis is filed under in ``Event.rule`` (the party's right to a copy).
ARTICLE = "第三十一条"


def _entry(entry_kind, file, start, end, what_zh, what_en, reason, basis, **detail) -> Event:
    law = LEGAL_BASES[basis]
    return Event(
        kind=entry_kind, file=file, start=round(start, 3), end=round(end, 3), rule=ARTICLE,
        detail={"what_zh": what_zh, "what_en": what_en, "reason": reason, "basis": basis,
                "basis_zh": law["zh"], "basis_en": law["en"], **detail},
    )


def redaction_log(result: RenderResult) -> list[Event]:
    """One entry per masked track, kept track, manual mask and audio range of a render."""
    spec, ts = result.spec, result.tracks
    name = Path(ts.source).name
    keep = set(spec.keep)
    masked = {t.id for t in masked_tracks(ts, spec)}
    out: list[Event] = []
    for t in ts.tracks:
        start, end = t.first / ts.fps, (min(t.last, ts.frames - 1) + 1) / ts.fps
        frames = [t.first, min(t.last, ts.frames - 1)]
        if t.kind != "face":
            entry = _text_entry(t, name, start, end, frames, t.id in masked, t.id in keep, result)
            if entry is not None:
                out.append(entry)
            continue
        if t.id in keep:
            out.append(_entry("kept_visible", name, start, end, f"人脸（轨迹 #{t.id}），保留可见（申请人）",
                              f"face (track #{t.id}) left visible (the requester)",
                              "requester's own image", spec.basis, track=t.id, frames=frames))
        else:
            out.append(_entry("redaction", name, start, end, f"人脸（轨迹 #{t.id}），{_style_zh(spec.style)}",
                              f"face (track #{t.id}), {spec.style} mask", spec.reason, spec.basis,
                              track=t.id, frames=frames, masked_frames=result.masked_frames.get(t.id, 0),
                              detections=t.hits))
    for k, m in enumerate(spec.masks):
        end = min(m.end, ts.frames / ts.fps)
        out.append(_entry("redaction", name, m.start, end, f"手动遮盖区域 {list(m.box)}，{_style_zh(spec.style)}",
                          f"manual mask {list(m.box)}, {spec.style}", m.reason, m.basis,
                          mask=k, box=list(m.box), masked_frames=result.manual_frames[k]))
    for r in spec.audio:
        zh = "静音" if r.mode == "mute" else "提示音覆盖"
        out.append(_entry("redaction", name, r.start, r.end, f"音频{zh}", f"audio {r.mode}", r.reason, r.basis,
                          audio=r.mode))
    return out


def _text_entry(t, name, start, end, frames, masked: bool, kept: bool, result: RenderResult) -> Event | None:
    """A text track's entry: what it was guessed to be, never the text read (that would disclose it)."""
    spec, label = result.spec, track_label(t.id)
    if t.kind == "osd":
        if masked:
            return _entry("redaction", name, start, end, f"摄像机屏显（文字轨迹 {label}），{_style_zh(spec.style)}",
                          f"camera display / OSD (text track {label}), {spec.style} mask", spec.reason, spec.basis,
                          track=label, kind="osd", frames=frames, masked_frames=result.masked_frames.get(t.id, 0))
        if not spec.text.enabled:
            return None
        return _entry("kept_visible", name, start, end, f"摄像机屏显（文字轨迹 {label}），保留可见（记录来源）",
                      f"camera display / OSD (text track {label}) left visible (the record's provenance)",
                      "camera's own time and ID stamp", spec.basis, track=label, kind="osd", frames=frames)
    zh, en = WHAT.get(t.what or "text", WHAT["text"])
    if kept:
        return _entry("kept_visible", name, start, end, f"{zh}（文字轨迹 {label}），保留可见",
                      f"{en} (text track {label}) left visible", "kept by the archivist", spec.basis,
                      track=label, kind="text", what=f"{en} / {zh}", frames=frames)
    if not masked:
        return None  # text not looked for in this render (--no-text)
    return _entry("redaction", name, start, end, f"{zh}（文字轨迹 {label}），{_style_zh(spec.style)}",
                  f"{en} (text track {label}), {spec.style} mask", spec.reason, spec.basis,
                  track=label, kind="text", what=f"{en} / {zh}", frames=frames,
                  masked_frames=result.masked_frames.get(t.id, 0), detections=t.hits)


def _style_zh(style: str) -> str:
    return "纯色遮盖" if style == "solid" else "马赛克"


def write_log(events: list[Event], path: str | Path, source_sha256: str | None = None,
              output_sha256: str | None = None) -> Path:
    path = Path(path)
    doc = {"source_sha256": source_sha256, "output_sha256": output_sha256,
           "entries": [e.model_dump(mode="json") for e in events]}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return path
