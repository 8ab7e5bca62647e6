"""Access copies: H.264 in MP4 with the index first, at most 720p, AAC audio. For viewing only."""

from __future__ import annotations

from pathlib import Path

import av

from ._io import ArchiveError, Progress, _noop
from .policy import AccessOptions


def access_size(width: int, height: int, max_width: int = 1280, max_height: int = 720) -> tuple[int, int]:
    """The picture size of the access copy: within the bounds, aspect kept, even numbers.

    Parameters
    ----------
    width, height : int
        Source size.
    max_width, max_height : int
        Bounds; the source is never enlarged.

    Returns
    -------
    (int, int)
    """
    scale = min(1.0, max_width / width, max_height / height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def make_access_copy(
    source: Path | str,
    dest: Path | str,
    *,
    options: AccessOptions | None = None,
    progress: Progress | None = None,
) -> dict:
    """Encode the first video and first audio stream of ``source`` into an MP4 at ``dest``.

    Full-range sources are converted to the limited range players expect; the picture is scaled
    down to the bounds of ``options``. Writes ``dest`` directly (see
    :func:`media.archive.make_access` for all-or-nothing output).

    Returns
    -------
    dict
        Size, codecs and streams of the copy.
    """
    options = options or AccessOptions()
    progress = progress or _noop
    with av.open(str(source)) as inp, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        total = inp.duration / 1e6 if inp.duration else 0.0
        if not inp.streams.video:
            raise ArchiveError(f"{Path(source).name} has no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        w, h = access_size(vin.codec_context.width, vin.codec_context.height, options.max_width, options.max_height)
        vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 25)
        vcc = vout.codec_context
        vcc.width, vcc.height, vcc.pix_fmt = w, h, "yuv420p"
        vcc.time_base = vin.time_base
        # Limited range, and the matrix swscale keeps (the source's, else BT.601), written into
        # the stream: x264 only signals the range when a colour description is given.
        vcc.color_range = 1
        vcc.colorspace = vin.codec_context.colorspace if vin.codec_context.colorspace not in (0, 2) else 6
        vcc.thread_count = options.threads
        vcc.options = {"crf": str(options.crf), "preset": options.preset}
        aout = resampler = None
        if ain is not None:
            aout = out.add_stream("aac", rate=ain.codec_context.sample_rate)
            channels = ain.codec_context.layout.nb_channels if ain.codec_context.layout else 2
            aout.codec_context.layout = "mono" if channels == 1 else "stereo"  # for viewing; more is downmixed
            aout.codec_context.bit_rate = options.audio_bitrate
            resampler = av.AudioResampler(format="fltp", layout=aout.codec_context.layout, rate=aout.codec_context.sample_rate)
        last = -1
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            for frame in packet.decode():
                if packet.stream is vin:
                    full = frame.format.name.startswith("yuvj") or frame.color_range == 2
                    src_range = "JPEG" if full else "MPEG"
                    if frame.format.name in ("rgb24", "bgr24", "gbrp", "rgba", "bgra", "pal8"):
                        src_range = None
                    out_frame = frame.reformat(
                        width=w, height=h, format="yuv420p",
                        src_color_range=src_range, dst_color_range="MPEG", interpolation="BICUBIC",
                    )
                    out_frame.color_range, out_frame.colorspace = 1, vcc.colorspace
                    pts = frame.pts if frame.pts is not None and frame.pts > last else last + 1
                    out_frame.pts, out_frame.time_base, last = pts, vin.time_base, pts
                    out.mux(vout.encode(out_frame))
                    if frame.time is not None:
                        progress("access", frame.time, total)
                else:
                    frame.pts = None  # the resampler counts samples itself
                    for f in resampler.resample(frame):
                        out.mux(aout.encode(f))
        out.mux(vout.encode(None))
        if aout is not None:
            for f in resampler.resample(None):
                out.mux(aout.encode(f))
            out.mux(aout.encode(None))
    progress("access", total, total)
    return {"width": w, "height": h, "video": "h264", "audio": "aac" if aout is not None else None}
