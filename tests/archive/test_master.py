"""Masters are proved lossless: FFV1 frame by frame and sample by sample, remux packet by packet."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import av
import pytest

import media.archive as archive
from media.archive import Action, VerificationError, make_master, verify_lossless, verify_master
from media.archive.digest import frame_pixels


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        return {
            "tags": {k.upper(): v for k, v in c.metadata.items()},
            "streams": [
                {
                    "type": s.type,
                    "codec": s.codec_context.codec.canonical_name,
                    "pix_fmt": s.codec_context.pix_fmt if s.type == "video" else None,
                    "range": s.codec_context.color_range if s.type == "video" else None,
                }
                for s in c.streams
            ],
        }


def test_ffv1_master_of_full_range_mjpeg_with_pcm(clips, tmp_path):
    src = clips["mjpeg_pcm_avi"]
    tags = {"SOURCE_SHA256": hashlib.sha256(src.read_bytes()).hexdigest(), "DEVICE": "CAM-7", "OFFICER": "0815",
            "START_TIME": "2026-11-27T09:00:00+08:00", "SESSION_ID": "CAM-7-20261127T090000"}
    r = make_master(src, tmp_path / "m.mkv", tags=tags)  # policy: mjpeg -> ffv1
    assert r.action == "ffv1"
    assert [(c["kind"], c["method"]) for c in r.checks] == [("video", "frames"), ("audio", "samples")]
    assert r.checks[0]["units"] == 10 and r.checks[1]["units"] >= 16000
    facts = stream_facts(tmp_path / "m.mkv")
    v, a = facts["streams"]
    assert (v["codec"], v["pix_fmt"], v["range"]) == ("ffv1", "yuv420p", 2)  # yuvj420p kept as full-range yuv420p
    assert a["codec"] == "flac"
    assert {k: facts["tags"][k] for k in tags} == tags
    assert r.sha256 == hashlib.sha256((tmp_path / "m.mkv").read_bytes()).hexdigest()
    with av.open(str(tmp_path / "m.mkv")) as c:  # GOP 1: every frame a keyframe
        assert all(p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size)


@pytest.mark.shared
def test_ffv1_master_of_cinepak_matches_ffmpeg_framemd5(footage, tmp_path):
    """Independent oracle: ffmpeg's own framemd5 of the source equals our digest of the master's pixels."""
    src = footage("opencv-doc__tree.avi")
    r = make_master(src, tmp_path / "tree.mkv")
    assert r.action == "ffv1" and r.checks[0]["method"] == "frames"
    assert stream_facts(tmp_path / "tree.mkv")["streams"][0]["pix_fmt"] == "bgr0"  # rgb24 -> FFV1's 8-bit RGB
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg CLI not installed")
    out = subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-f", "framemd5", "-"], capture_output=True, text=True, check=True)
    theirs = [line.rsplit(",", 1)[1].strip() for line in out.stdout.splitlines() if line and not line.startswith("#")]
    with av.open(str(tmp_path / "tree.mkv")) as c:
        ours = [hashlib.md5(frame_pixels(f).data).hexdigest() for f in c.decode(video=0)]
    assert len(ours) == r.checks[0]["units"] == len(theirs) > 10
    assert ours == theirs


@pytest.mark.shared
def test_ffv1_master_of_mpeg4_part2_keeps_mp3_bits(footage, tmp_path):
    r = make_master(footage("mmaction2__test.avi"), tmp_path / "m.mkv")
    assert r.action == "ffv1"
    assert [(c["kind"], c["method"]) for c in r.checks] == [("video", "frames"), ("audio", "packets")]
    assert r.checks[0]["units"] == 164
    assert [s["codec"] for s in stream_facts(tmp_path / "m.mkv")["streams"]] == ["ffv1", "mp3"]


@pytest.mark.shared
def test_ffv1_master_of_msmpeg4_head(footage, head, tmp_path):
    src = head(footage("opencv-doc__vtest.avi"), tmp_path / "vtest-3s.avi", 3.0)
    r = make_master(src, tmp_path / "m.mkv")
    assert r.action == "ffv1" and r.checks[0]["units"] == 30


@pytest.mark.shared
def test_full_range_h264_kept_as_full_range_ffv1(footage, tmp_path):
    src = footage("intel-sample-videos__asl_again.mkv")
    r = make_master(src, tmp_path / "m.mkv", action="ffv1")
    assert r.streams[0]["pix_fmt"] == "yuvj420p" and r.streams[0]["stored_as"] == "yuv420p"
    v = stream_facts(tmp_path / "m.mkv")["streams"][0]
    assert (v["pix_fmt"], v["range"]) == ("yuv420p", 2)


def _retouch(master: Path, dest: Path, frame_no: int) -> None:
    """Copy ``master`` with one pixel of one frame changed by one level (audio copied as is)."""
    with av.open(str(master)) as inp, av.open(str(dest), "w", format="matroska") as out:
        s = inp.streams.video[0]
        o = out.add_stream("ffv1", rate=s.average_rate or 10)
        o.width, o.height, o.pix_fmt = s.codec_context.width, s.codec_context.height, s.codec_context.pix_fmt
        o.codec_context.color_range = s.codec_context.color_range
        audio = {a.index: out.add_stream_from_template(a) for a in inp.streams.audio}
        i = 0
        for packet in inp.demux():
            if packet.stream.index in audio:
                if packet.size:
                    packet.stream = audio[packet.stream.index]
                    out.mux(packet)
                continue
            for f in packet.decode():
                if i == frame_no:
                    arr = f.to_ndarray()  # yuv420p: the planes stacked
                    arr[5, 7] ^= 1
                    g = av.VideoFrame.from_ndarray(arr, format=f.format.name)
                    g.pts, g.time_base, g.color_range = f.pts, f.time_base, f.color_range
                    f = g
                out.mux(o.encode(f))
                i += 1
        out.mux(o.encode(None))


def test_one_pixel_changed_fails_verification(clips, tmp_path):
    src = clips["mjpeg_pcm_avi"]
    make_master(src, tmp_path / "m.mkv")
    _retouch(tmp_path / "m.mkv", tmp_path / "bad.mkv", frame_no=3)
    verify_lossless(src, tmp_path / "m.mkv")  # the honest master still passes
    with pytest.raises(VerificationError, match=r"video stream 0 .*frames.*first differing frame: #3"):
        verify_lossless(src, tmp_path / "bad.mkv")


def test_failed_verification_leaves_nothing(clips, tmp_path, monkeypatch):
    """A transcoder that changes a pixel must not get its output kept: the FFV1 writer is made to
    store frame 0 with one sample off by one; the source digests taken in the same pass catch it."""
    import media.archive.ffv1 as ffv1

    src = clips["mjpeg_pcm_avi"]
    honest = ffv1._as_stored
    seen = []

    def faulty(frame, occ):
        out = honest(frame, occ)
        if not seen:
            arr = out.to_ndarray()
            arr[5, 7] ^= 1
            bad = av.VideoFrame.from_ndarray(arr, format=out.format.name)
            bad.pts, bad.time_base, bad.color_range = out.pts, out.time_base, out.color_range
            out = bad
        seen.append(1)
        return out

    monkeypatch.setattr(ffv1, "_as_stored", faulty)
    with pytest.raises(VerificationError, match="first differing frame: #0"):
        make_master(src, tmp_path / "out" / "m.mkv", action=Action.FFV1)
    assert seen and list((tmp_path / "out").iterdir()) == []


def test_remux_of_mp4_proves_packets(clips, tmp_path):
    r = make_master(clips["h264_aac_mp4"], tmp_path / "m.mkv", tags={"SOURCE_SHA256": "ab" * 32})
    assert r.action == "remux"
    assert [(c["kind"], c["method"], c["units"]) for c in r.checks] == [("video", "packets", 10), ("audio", "packets", r.checks[1]["units"])]
    assert r.checks[1]["units"] > 10
    assert stream_facts(tmp_path / "m.mkv")["tags"]["SOURCE_SHA256"] == "ab" * 32


def test_remux_of_mpegts_normalises_annexb_and_adts(clips, tmp_path):
    from media.archive.digest import Plan, digest_file

    r = make_master(clips["h264_aac_ts"], tmp_path / "m.mkv")
    assert r.action == "remux" and [c["method"] for c in r.checks] == ["packets", "packets"]
    # the raw bytes do differ (start codes became length prefixes, ADTS headers went): the
    # proof above compared the H.264 NAL units and the AAC frames themselves
    raw = Plan({0: "packets", 1: "packets"})
    a, b = digest_file(clips["h264_aac_ts"], raw), digest_file(tmp_path / "m.mkv", raw)
    assert a[0].digest != b[0].digest and a[1].digest != b[1].digest


@pytest.mark.shared
def test_remux_of_real_mp4_drops_timecode_track(footage, tmp_path):
    r = make_master(footage("sam2__01_dog.mp4"), tmp_path / "m.mkv")
    assert [c["units"] for c in r.checks] == [289, 454]
    assert r.dropped == [{"index": 2, "kind": "data"}]


def test_one_changed_byte_fails_remux_verification(clips, tmp_path):
    src = clips["h264_aac_mp4"]
    with av.open(str(src)) as inp, av.open(str(tmp_path / "bad.mkv"), "w", format="matroska") as out:
        m = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        n = 0
        for p in inp.demux():
            if p.dts is None:
                continue
            idx = p.stream.index
            if p.stream.type == "video":
                if n == 4:
                    data = bytearray(bytes(p))
                    data[-1] ^= 0x01
                    q = av.Packet(bytes(data))
                    q.pts, q.dts, q.time_base, q.is_keyframe = p.pts, p.dts, p.time_base, p.is_keyframe
                    p = q
                n += 1
            p.stream = m[idx]
            out.mux(p)
    with pytest.raises(VerificationError, match=r"video stream 0 .*packets.*first differing packet: #4"):
        verify_master(src, tmp_path / "bad.mkv")


def test_digests_taken_while_transcoding_prove_the_same(clips, tmp_path):
    """make_master hashes source frames as it encodes them; that proof equals a fresh decode's."""
    src = clips["mjpeg_pcm_avi"]
    report = archive.transcode_ffv1(src, tmp_path / "m.mkv")
    assert {d.method for d in report["source_digests"].values()} == {"frames", "samples"}
    fresh = verify_lossless(src, tmp_path / "m.mkv")
    fast = verify_lossless(src, tmp_path / "m.mkv", source_digests=report["source_digests"])
    assert [(c.method, c.units, c.digest) for c in fast] == [(c.method, c.units, c.digest) for c in fresh]
    _retouch(tmp_path / "m.mkv", tmp_path / "bad.mkv", frame_no=6)
    with pytest.raises(VerificationError, match="first differing frame: #6"):
        verify_lossless(src, tmp_path / "bad.mkv", source_digests=report["source_digests"])


def test_ffv1_settings_are_in_the_bitstream(clips, tmp_path):
    """FFmpeg's FFV1 decoder reports version 3, slice CRCs, 4 slices, intra-only."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg CLI not installed")
    make_master(clips["mjpeg_pcm_avi"], tmp_path / "m.mkv")
    log = subprocess.run(
        [ffmpeg, "-v", "debug", "-debug", "1", "-i", str(tmp_path / "m.mkv"), "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True,
    ).stderr
    header = next(line for line in log.splitlines() if "global: ver:" in line)
    assert "ver:3." in header and "ec:1" in header and "slices:2x2" in header and "intra:1" in header


@pytest.mark.shared
def test_remux_refuses_what_matroska_cannot_carry(footage, tmp_path):
    with pytest.raises(archive.ArchiveError, match="cinepak.*ffv1"):
        make_master(footage("opencv-doc__tree.avi"), tmp_path / "m.mkv", action="remux")
    assert list(tmp_path.iterdir()) == []
