"""Probe and hash: checksums equal sha256sum, packet facts without decoding, flat memory."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media.probe import MediaError, check_name, probe
from media.synth import make_clip

ROOT = Path(__file__).resolve().parents[1]


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True).stdout.split()[0]


def top_level_atoms(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes in file order (ISO/IEC 14496-12 section 4.2)."""
    types = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:  # a 64-bit size follows the type
                size = struct.unpack(">Q", f.read(8))[0] - 8
            elif size == 0:  # the box runs to the end of the file
                types.append(kind.decode("latin-1"))
                break
            types.append(kind.decode("latin-1"))
            f.seek(size - 8, 1)
    return types


def test_top_level_atoms_of_a_hand_made_file(tmp_path):
    path = tmp_path / "boxes.mp4"
    path.write_bytes(
        struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
        + struct.pack(">I4sQ", 1, b"mdat", 20) + b"abcd"
        + struct.pack(">I4s", 8, b"moov")
    )
    assert top_level_atoms(path) == ["ftyp", "mdat", "moov"]


def test_faststart_puts_the_index_first(tmp_path):
    atoms = top_level_atoms(make_clip(tmp_path / "fast.mp4", 1, faststart=True))
    assert atoms.index("moov") < atoms.index("mdat"), atoms


def test_hash_equals_sha256sum_on_non_faststart_mp4(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", 3, faststart=False)
    atoms = top_level_atoms(clip)
    assert atoms.index("mdat") < atoms.index("moov"), atoms  # not faststart: the index comes last
    facts = probe(clip)
    assert facts.sha256 == sha256sum(clip)
    assert facts.size == clip.stat().st_size
    video = next(s for s in facts.streams if s.kind == "video")
    audio = next(s for s in facts.streams if s.kind == "audio")
    assert video.codec == "h264" and video.packets == 30 and video.keyframes >= 3
    assert video.fps == pytest.approx(10.0)
    assert audio.codec == "aac" and audio.sample_rate == 16000
    assert facts.duration == pytest.approx(3.0, abs=0.01)
    assert facts.events == []


def test_hash_equals_sha256sum_on_avi(tmp_path):
    clip = make_clip(tmp_path / "cam.avi", 2, codec="mpeg4")
    facts = probe(clip)
    assert facts.container == "avi"
    assert facts.sha256 == sha256sum(clip)
    assert {s.codec for s in facts.streams} >= {"mpeg4"}


def _clip_with_jump(path: Path) -> Path:
    """10 fps video whose timestamps jump 3 s after frame 20, as a camera pausing in-file does."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        vs.options = {"preset": "ultrafast", "bf": "0"}
        vs.time_base = Fraction(1, 10)
        for i, pts in enumerate(list(range(20)) + list(range(50, 70))):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 5, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 10)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def test_timestamp_discontinuity_is_an_event(tmp_path):
    facts = probe(_clip_with_jump(tmp_path / "jump.mkv"))
    jumps = [e for e in facts.events if e.kind == "discontinuity"]
    assert len(jumps) == 1
    assert jumps[0].start == pytest.approx(1.9, abs=0.01)
    assert jumps[0].end == pytest.approx(5.0, abs=0.01)


@pytest.mark.parametrize(
    "name", ["../x.mp4", "a\nb.mp4", "\x1b[31mred.mp4", "-rf.mp4", ".hidden.mp4", "a\u202eb.mp4", "x" * 300]
)
def test_hostile_names_are_refused(name):
    with pytest.raises(MediaError) as err:
        check_name(name)
    assert err.value.reason == "hostile_name"


def test_ordinary_names_pass():
    for name in ["DSJ-A01_1001_20261126090000_0001.MP4", "执法记录仪_001.mp4", "cam 1 (copy).mov"]:
        check_name(name)


def test_not_media_and_empty_and_truncated(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(MediaError) as err:
        probe(text)
    assert err.value.reason == "not_media"

    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError) as err:
        probe(empty)
    assert err.value.reason == "empty"

    # a faststart MP4 cut short keeps its index but loses the packets it points to
    cut = make_clip(tmp_path / "cut.mp4", 4, faststart=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    with pytest.raises(MediaError) as err:
        probe(cut)
    assert err.value.reason == "truncated"

    # a camera-style MP4 (index at the end) cut short has no index at all
    cut2 = make_clip(tmp_path / "cut2.mp4", 4)
    cut2.write_bytes(cut2.read_bytes()[: cut2.stat().st_size // 2])
    with pytest.raises(MediaError) as err:
        probe(cut2)
    assert err.value.reason == "truncated"


def test_absurd_dimensions_are_refused(tmp_path):
    from media.probe import Limits

    clip = make_clip(tmp_path / "wide.mp4", 1, width=320, height=240, audio=False)
    with pytest.raises(MediaError) as err:
        probe(clip, Limits(max_width=160, max_height=4096))
    assert err.value.reason == "absurd_dimensions"


def test_undecodable_video_is_refused(tmp_path):
    """A well-formed container whose video packets are garbage."""
    path = tmp_path / "garbage.mkv"
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("h264", rate=10)
        vs.width, vs.height = 320, 240
        vs.time_base = Fraction(1, 10)
        for i in range(20):
            pkt = av.Packet(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
            pkt.stream, pkt.pts, pkt.dts, pkt.time_base = vs, i, i, Fraction(1, 10)
            out.mux(pkt)
    with pytest.raises(MediaError) as err:
        probe(path)
    assert err.value.reason in ("undecodable", "corrupt")


PEAK_RSS = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[2])
from media.probe import probe
facts = probe(sys.argv[1])
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "duration": facts.duration}))
"""


@pytest.fixture(scope="module")
def long_and_short(tmp_path_factory):
    d = tmp_path_factory.mktemp("rss")
    short = make_clip(d / "short.mp4", 10, width=480, height=270, fps=15, seed=1)
    long = make_clip(d / "long.mp4", 120, width=480, height=270, fps=15, seed=2)
    return short, long


def _peak_rss(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(ROOT)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_memory_does_not_grow_with_file_size(long_and_short):
    short, long = long_and_short
    assert long.stat().st_size > 10 * short.stat().st_size
    a, b = _peak_rss(short), _peak_rss(long)
    assert b["duration"] == pytest.approx(120, abs=0.2)
    assert b["rss_kb"] <= a["rss_kb"] * 1.10, (a, b, long.stat().st_size)
