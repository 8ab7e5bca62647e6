"""H.265 recordings (body cameras), and H.264 High with B-frames: remux master, H.264 access copy,
the same gap checks (issue 26, item 3).

The HEVC clips are real libx265 bitstreams made here with PyAV from an H.264 clip with a planted
black stretch (media.gaps.synth): in MP4 (``hvc1``) and MOV (FFmpeg's default ``hev1``), with
x265's B-frames and without (``bframes=0``), with AAC sound. Everything is checked by reading the
outputs back with PyAV, independently of the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from media.archive import Action, ArchiveSettings, decide, make_access, make_master, recording_access_refusal
from media.gaps.qc import analyse
from media.gaps.settings import GapSettings
from media.gaps.synth import ClipSpec, make_clip
from records.derivatives import process_recording, scratch_estimate

from archivekit import events_of, recording_of, reencode

BLACK = (1.0, 3.2)  # planted in the source; longer than black_min_duration (2 s)
FPS = 25
HEVC = [("mp4", True), ("mp4", False), ("mov", True), ("mov", False)]
IDS = ["mp4-bframes", "mp4-no-bframes", "mov-bframes", "mov-no-bframes"]
#: Matroska keeps timestamps in milliseconds
MS = 0.001


def to_hevc(source: Path, dest: Path, *, fmt: str, bframes: bool) -> Path:
    """``source``'s pictures encoded with libx265 (ultrafast: 3 B-frames unless ``bframes`` is
    off), its AAC sound copied; MP4 tagged ``hvc1`` (what players want), MOV left ``hev1``."""
    params = "log-level=error" + ("" if bframes else ":bframes=0")
    return reencode(source, dest, "libx265", options={"preset": "ultrafast", "x265-params": params}, fmt=fmt,
                     codec_tag="hvc1" if fmt == "mp4" else None)


def lossless_h264(source: Path, dest: Path) -> Path:
    """``source``'s decoded pictures in lossless H.264 (x264 ``qp=0``), its sound copied: the same
    content as an H.264 file, picture for picture."""
    return reencode(source, dest, "libx264", options={"preset": "ultrafast", "qp": "0"}, fmt="mp4")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("hevc")
    out = {"base": d / "base.mp4"}
    make_clip(out["base"], ClipSpec(duration=4, width=640, height=360, fps=FPS, black=[BLACK], seed=5))
    for (fmt, bframes), key in zip(HEVC, IDS):
        out[key] = to_hevc(out["base"], d / f"{key}.{fmt}", fmt=fmt, bframes=bframes)
    # what a body camera writes in H.264: High profile with B-frames (x264 superfast: 3 B-frames)
    out["h264-high"] = d / "high.mp4"
    make_clip(out["h264-high"], ClipSpec(duration=3, width=640, height=360, fps=FPS, preset="superfast", seed=6))
    return out


def packets(path: Path, kind: str) -> list[tuple[bytes, float]]:
    """Payload and presentation time (s) of every packet of the first ``kind`` stream, in file order."""
    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(s) if p.size]


def reordered(path: Path) -> bool:
    """Whether the video's presentation order differs from its decoding order (B-frames)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [p.pts for p in c.demux(s) if p.size]
    return pts != sorted(pts)


def decoded(path: Path) -> list[float]:
    """Times (s) of every picture of the first video stream, decoded to the end."""
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


def assert_same_packets(source: Path, copy: Path, *, offset_at_most: float = 0.0) -> None:
    """Video and audio packets of ``copy`` are ``source``'s: the same bytes in the same order, and
    the same presentation times but for one shift shared by all streams (Matroska stores no
    negative times: its muxer lifts the AAC priming, pts -1024/48000 s, to zero)."""
    shifts = []
    for kind in ("video", "audio"):
        a, b = packets(source, kind), packets(copy, kind)
        assert len(a) == len(b) > 10, kind
        assert [x for x, _ in a] == [x for x, _ in b], f"{kind} packet bytes differ"
        shift = b[0][1] - a[0][1]
        assert all(abs((tb - ta) - shift) <= MS for (_, ta), (_, tb) in zip(a, b)), f"{kind} packet times differ"
        shifts.append(shift)
    assert abs(shifts[0] - shifts[1]) <= MS  # sound stays in step with the pictures
    assert -MS <= shifts[0] <= offset_at_most + MS


def test_the_clips_are_what_they_claim(clips):
    for (fmt, bframes), key in zip(HEVC, IDS):
        with av.open(str(clips[key])) as c:
            v, a = c.streams.video[0].codec_context, c.streams.audio[0].codec_context
            assert (v.name, a.name, v.pix_fmt) == ("hevc", "aac", "yuv420p"), key
            assert v.codec_tag == ("hvc1" if fmt == "mp4" else "hev1"), key
            assert ("mp4" if fmt == "mp4" else "mov") in c.format.name
        assert reordered(clips[key]) is bframes, key
    with av.open(str(clips["h264-high"])) as c:
        assert (c.streams.video[0].codec_context.name, c.streams.video[0].codec_context.profile) == ("h264", "High")
    assert reordered(clips["h264-high"])


@pytest.mark.parametrize("key", IDS)
def test_the_policy_remuxes_hevc_and_encodes_its_access_copy(clips, key):
    assert decide(clips[key]) is Action.REMUX
    rec = recording_of(clips[key])
    assert rec.video.codec == "hevc"
    assert recording_access_refusal(rec) == "video codec hevc is not H.264"


@pytest.mark.parametrize("key", IDS)
def test_hevc_master_is_a_matroska_remux(clips, tmp_path, key):
    src = clips[key]
    r = make_master(src, tmp_path / "m.mkv")  # the default policy: hevc -> remux
    assert r.action == "remux"
    assert [(c["kind"], c["method"]) for c in r.checks] == [("video", "packets"), ("audio", "packets")]
    assert r.checks[0]["units"] == 4 * FPS
    with av.open(str(tmp_path / "m.mkv")) as c:
        assert c.format.name.startswith("matroska")
        assert [s.codec_context.name for s in c.streams] == ["hevc", "aac"]
        v = c.streams.video[0].codec_context
        assert (v.width, v.height, v.pix_fmt) == (640, 360, "yuv420p")
    assert_same_packets(src, tmp_path / "m.mkv", offset_at_most=1024 / 48000)


@pytest.mark.parametrize("key", IDS)
def test_hevc_access_copy_is_h264_and_plays_through(clips, tmp_path, key):
    src = clips[key]
    r = make_access(src, tmp_path / "a.mp4")
    assert r.method == "encode" and "hevc" in r.reason
    with av.open(str(tmp_path / "a.mp4")) as c:
        v = c.streams.video[0].codec_context
        assert (v.name, v.width, v.height, v.pix_fmt) == ("h264", 640, 360, "yuv420p")
        assert c.streams.audio[0].codec_context.name == "aac"
        duration = c.duration / 1e6
    ours, theirs = decoded(src), decoded(tmp_path / "a.mp4")
    assert len(theirs) == len(ours) == 4 * FPS  # every picture, to the end
    assert theirs == pytest.approx(ours, abs=MS)
    assert abs(duration - 4.0) <= 1.0  # the access check's tolerance (media.archive.make.AccessJob)


@pytest.mark.parametrize("key", IDS)
def test_hevc_gap_checks_equal_those_of_the_same_pictures_in_h264(clips, tmp_path, key):
    """The checks decode HEVC: their findings on it equal those on a lossless H.264 copy of the
    same decoded pictures, and the planted black stretch is found where the H.264 source has it."""
    settings = GapSettings(speech=False)
    hevc = analyse(clips[key], settings)
    h264 = analyse(lossless_h264(clips[key], tmp_path / "same.mp4"), settings)

    def findings(result):
        return [{k: v for k, v in e.items() if k != "file"} for e in events_of(result)]

    assert findings(hevc) == findings(h264)
    (black,) = [e for e in hevc.events if e.kind == "black"]
    (planted,) = [e for e in analyse(clips["base"], settings).events if e.kind == "black"]
    assert black.start == pytest.approx(planted.start, abs=1 / FPS) == pytest.approx(BLACK[0], abs=1 / FPS)
    assert black.end == pytest.approx(planted.end, abs=1 / FPS)


def test_one_pass_over_hevc_makes_checks_master_and_access(clips, tmp_path):
    """process_recording (the ingest flow's task): one decode of the HEVC file feeds the gap checks
    and the access encoder; the master is a remux; the findings equal analyse's."""
    src = clips["mp4-bframes"]
    rec = recording_of(src)
    settings = GapSettings(speech=False)
    done = process_recording(rec, src, tmp_path, gaps=settings, archive=ArchiveSettings())
    assert done.qc_error is None and done.archive_error is None
    assert events_of(done.qc) == events_of(analyse(src, settings, recording=rec))
    assert "black" in {e.kind for e in done.qc.events}
    assert done.archive.action == "remux" and done.archive.access.method == "encode"
    assert_same_packets(src, Path(done.archive.master.path), offset_at_most=1024 / 48000)
    assert len(decoded(Path(done.archive.access.path))) == 4 * FPS
    assert done.archive.master.size + done.archive.access.size <= scratch_estimate(rec, ArchiveSettings())


def test_h264_high_with_bframes_is_remuxed_twice(clips, tmp_path):
    """A body camera's H.264 High with B-frames within 720p: master and access copy both keep its packets."""
    src = clips["h264-high"]
    m = make_master(src, tmp_path / "m.mkv")
    assert m.action == "remux" and [c["method"] for c in m.checks] == ["packets", "packets"]
    assert_same_packets(src, tmp_path / "m.mkv", offset_at_most=1024 / 48000)
    a = make_access(src, tmp_path / "a.mp4")
    assert a.method == "remux" and a.reason is None
    assert_same_packets(src, tmp_path / "a.mp4")
    assert len(decoded(tmp_path / "a.mp4")) == 3 * FPS


@pytest.mark.slow
def test_h264_high_with_bframes_at_1080p(tmp_path):
    """1080p H.264 High with B-frames: remux master, access copy encoded down to 720p, every picture kept."""
    src = tmp_path / "big.mp4"
    make_clip(src, ClipSpec(duration=1.6, width=1920, height=1080, fps=FPS, preset="superfast", seed=7))
    assert reordered(src)
    m = make_master(src, tmp_path / "m.mkv")
    assert m.action == "remux"
    assert_same_packets(src, tmp_path / "m.mkv", offset_at_most=1024 / 48000)
    a = make_access(src, tmp_path / "a.mp4")
    assert a.method == "encode" and "1920x1080" in a.reason
    with av.open(str(tmp_path / "a.mp4")) as c:
        v = c.streams.video[0].codec_context
        assert (v.name, v.width, v.height) == ("h264", 1280, 720)
    assert len(decoded(tmp_path / "a.mp4")) == len(decoded(src)) == 40


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_one_ingest_stores_every_hevc_recording(clips, footage_home):
    from typer.testing import CliRunner

    from flows.cli import app

    inbox = footage_home / "inbox"
    inbox.mkdir(parents=True)
    names = {}
    for key in IDS + ["h264-high"]:
        dest = inbox / f"{key}{clips[key].suffix}"
        dest.write_bytes(clips[key].read_bytes())
        names[dest.name] = key
    result = CliRunner().invoke(app, ["ingest", "--inbox", str(inbox), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["failed"] == [] and doc["quarantined"] == []
    assert doc["seen"] == doc["ingested"] == len(names)
    for item in doc["stored"]:
        manifest = json.loads((footage_home / "store" / "objects" / "manifests" / f"{item['sha256']}.json").read_text())
        archive = manifest["archive"]
        assert archive["action"] == "remux", item["file"]
        assert [c["method"] for c in archive["master"]["checks"]] == ["packets", "packets"]
        hevc = names[item["file"]] != "h264-high"
        assert archive["access"]["method"] == ("encode" if hevc else "remux"), item["file"]
        assert [s["codec"] for s in archive["master"]["streams"]] == ["hevc" if hevc else "h264", "aac"]
        if hevc:
            assert "black" in {e["kind"] for e in manifest["qc_events"]}, item["file"]
