"""FFmpeg's own blackdetect, freezedetect and silencedetect through PyAV's libavfilter.

The reference our one-pass detectors are held to (tests and ``benchmarks/bench_qc.py``): the
same FFmpeg libraries, the filters' default thresholds, one decode pass with frame threads.
"""

from __future__ import annotations

from pathlib import Path

import av

KINDS = ("black", "freeze", "silence")


def _collect(found: dict, open_: dict, meta: dict, t: float) -> None:
    """Turn the filters' frame metadata into (start, end) pairs."""
    for kind, start_key, end_key in (
        ("black", "lavfi.black_start", "lavfi.black_end"),
        ("freeze", "lavfi.freezedetect.freeze_start", "lavfi.freezedetect.freeze_end"),
        ("silence", "lavfi.silence_start", "lavfi.silence_end"),
    ):
        if start_key in meta:
            open_[kind] = float(meta[start_key])
        if end_key in meta and kind in open_:
            found[kind].append((open_.pop(kind), float(meta[end_key])))


def reference_events(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """blackdetect, freezedetect and silencedetect through PyAV's libavfilter, one decode pass.

    Returns
    -------
    dict
        kind -> list of (start, end) seconds, as the filters report them in frame metadata; a
        stretch still open at the end of the stream ends with the stream's last frame.
    """
    found: dict[str, list] = {k: [] for k in KINDS}
    open_: dict[str, float] = {}
    ends = {"video": 0.0, "audio": 0.0}
    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        graphs = {}
        if v is not None:
            v.codec_context.thread_type = "AUTO"  # the same frame threads as ours
            g = av.filter.Graph()
            _chain(g, [g.add_buffer(template=v), g.add("blackdetect"), g.add("freezedetect"), g.add("buffersink")])
            graphs[v.index] = (g, "video")
        if a is not None:
            g = av.filter.Graph()
            _chain(g, [g.add_abuffer(template=a), g.add("silencedetect"), g.add("abuffersink")])
            graphs[a.index] = (g, "audio")

        def drain(graph, kind: str) -> None:
            while True:
                try:
                    out = graph.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
                _collect(found, open_, dict(out.metadata), out.time)
                step = out.samples / out.sample_rate if kind == "audio" else float(out.duration * out.time_base or 0)
                ends[kind] = max(ends[kind], out.time + step)

        for packet in c.demux([x for x in (v, a) if x is not None]):
            graph, kind = graphs[packet.stream.index]
            for frame in packet.decode():
                graph.push(frame)
                drain(graph, kind)
        for graph, kind in graphs.values():
            graph.push(None)
            drain(graph, kind)
    for kind, start in open_.items():
        found[kind].append((start, ends["audio" if kind == "silence" else "video"]))
    return found


def _chain(graph, nodes) -> None:
    for x, y in zip(nodes, nodes[1:]):
        x.link_to(y)
    graph.configure()
