"""What an archive output will be before it is made: whether the access copy can be a remux, and
an upper estimate of the scratch space the outputs of one recording take while they are made.

Both work from the probe's :class:`~media.model.Recording` (no file access), so a scheduler can
bound the scratch disk in use before it starts a file.
"""

from __future__ import annotations

import av

from ..model import Recording, StreamInfo
from .policy import AccessOptions, Action, ArchiveSettings

#: Names of FFmpeg's ISO base media family (the ``mov,mp4,m4a,3gp,3g2,mj2`` demuxer).
MP4_FAMILY = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}

#: Bits per output pixel the access encoder is assumed never to exceed (x264 CRF 23 codes camera
#: footage at 0.05-0.15; heavy sensor noise stays under 0.4).
ACCESS_BITS_PER_PIXEL = 0.5
_MiB = 1 << 20


def access_remux_refusal(
    video_codec: str | None,
    pix_fmt: str | None,
    full_range: bool,
    width: int | None,
    height: int | None,
    audio_codec: str | None,
    container: str | None,
    options: AccessOptions | None = None,
) -> str | None:
    """Why a source cannot become the access copy by stream copy; ``None`` when it can.

    The access profile: H.264, 8-bit 4:2:0 limited range (``yuv420p``), within
    ``options.max_width`` x ``options.max_height``, AAC audio or none, in an MP4/MOV-family
    container. A source that meets it already plays everywhere an encoded copy would.

    Parameters
    ----------
    video_codec, pix_fmt : str or None
        FFmpeg names of the first video stream's codec and pixel format.
    full_range : bool
        Whether the video is full range (``yuvj420p`` or a JPEG colour range).
    width, height : int or None
    audio_codec : str or None
        The first audio stream's codec; ``None`` when there is no audio.
    container : str or None
        FFmpeg's container name, possibly comma-separated (``mov,mp4,m4a,3gp,3g2,mj2``).
    options : AccessOptions, optional

    Returns
    -------
    str or None
    """
    options = options or AccessOptions()
    names = {n.strip() for n in (container or "").split(",")}
    if not names & MP4_FAMILY:
        return f"container {container} is not MP4"
    if video_codec != "h264":
        return f"video codec {video_codec} is not H.264"
    if pix_fmt != "yuv420p" or full_range:
        return f"pixel format {pix_fmt}{' (full range)' if full_range else ''} is not limited-range yuv420p"
    if not width or not height or width > options.max_width or height > options.max_height:
        return f"picture {width}x{height} exceeds {options.max_width}x{options.max_height}"
    if audio_codec not in (None, "aac"):
        return f"audio codec {audio_codec} is not AAC"
    return None


def recording_access_refusal(recording: Recording, options: AccessOptions | None = None) -> str | None:
    """:func:`access_remux_refusal` for a probed recording."""
    v, a = recording.video, recording.audio
    if v is None:
        return "no video stream"
    return access_remux_refusal(
        v.codec, v.pix_fmt, v.color_range == "pc" or (v.pix_fmt or "").startswith("yuvj"), v.width, v.height,
        a.codec if a is not None else None, recording.container, options,
    )


def _raw_picture_bytes(v: StreamInfo) -> int:
    """Bytes of one uncompressed picture of ``v`` in its own pixel format (RGB24 if unknown)."""
    w, h = v.width or 1920, v.height or 1080
    try:
        fmt = av.VideoFormat(v.pix_fmt or "rgb24", w, h)
        return sum(c.width * c.height * ((c.bits + 7) // 8) for c in fmt.components) or 3 * w * h
    except (ValueError, TypeError):
        return 4 * w * h


def archive_scratch(recording: Recording, settings: ArchiveSettings | None = None) -> int:
    """Upper estimate in bytes of the master and access copy of ``recording`` (both exist at once).

    A remux master or access copy holds the source's packets (at most the source's size plus
    container overhead); an FFV1 master at most the raw pictures (FFV1 never expands noticeably)
    plus the sound; an encoded access copy at most :data:`ACCESS_BITS_PER_PIXEL` bits a pixel plus
    its audio bit rate.
    """
    settings = settings or ArchiveSettings()
    v = recording.video
    if v is None:
        return 0
    duration = max(recording.duration, v.duration or 0.0, 1.0)
    fps = v.fps if v.fps and 0 < v.fps <= 240 else 60.0
    frames = int(fps * duration) + 1
    copy_size = int(recording.size * 1.02) + _MiB
    action = settings.policy.decide(v.codec, recording.container)
    if action is Action.FFV1:
        total = int(_raw_picture_bytes(v) * frames * 1.05) + copy_size
    else:
        total = copy_size
    if settings.policy.access_copy:
        if recording_access_refusal(recording, settings.access) is None:
            total += copy_size
        else:
            from .access import access_size

            w, h = access_size(v.width or 1920, v.height or 1080, settings.access.max_width, settings.access.max_height)
            bits = w * h * frames * ACCESS_BITS_PER_PIXEL + settings.access.audio_bitrate * duration
            total += int(bits / 8) + _MiB
    return total
