"""Access copies, and all-or-nothing outputs."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media.archive import ArchiveError, access_size, make_access, make_master, stale_partials


@pytest.mark.parametrize(
    "size, bounded",
    [((1920, 1080), (1280, 720)), ((768, 576), (768, 576)), ((1080, 1920), (404, 720)), ((321, 241), (320, 240))],
)
def test_access_size(size, bounded):
    assert access_size(*size) == bounded


@pytest.mark.shared
def test_access_copy_of_mpeg4_with_mp3(footage, tmp_path):
    r = make_access(footage("mmaction2__test.avi"), tmp_path / "a.mp4")
    data = (tmp_path / "a.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: the index first
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert [(s.type, s.codec_context.codec.canonical_name) for s in c.streams] == [("video", "h264"), ("audio", "aac")]
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (320, 240)
        assert abs(c.duration / 1e6 - 6.56) < 0.2
    assert len(r.sha256) == 64 and r.size == len(data)


@pytest.mark.shared
def test_access_copy_of_full_range_source_looks_the_same(footage, tmp_path):
    """Full-range pixels are converted, not relabelled: a player shows the same picture.

    Read as limited range, this source's pixels are off by about 8 levels on average; the copy
    must stay within x264's own loss (about 2).
    """
    src = footage("intel-sample-videos__asl_again.mkv")
    make_access(src, tmp_path / "a.mp4")
    with av.open(str(src)) as s, av.open(str(tmp_path / "a.mp4")) as a:
        assert a.streams.video[0].codec_context.pix_fmt == "yuv420p"
        for n, (f, g) in enumerate(zip(s.decode(video=0), a.decode(video=0))):
            assert g.color_range == 1  # limited, what players expect
            # to_ndarray(rgb24) follows each frame's own colour range, as a player would
            x, y = f.to_ndarray(format="rgb24").astype(float), g.to_ndarray(format="rgb24").astype(float)
            assert np.abs(x - y).mean() < 4
            if n == 4:
                break


class Stop(KeyboardInterrupt):
    pass


def _stop_halfway(stage, done, total):
    if total and done > total / 2:
        raise Stop


@pytest.mark.parametrize("kind", ["ffv1", "remux", "access"])
def test_interrupted_output_leaves_nothing(clips, tmp_path, kind):
    out = tmp_path / "out"
    dest = out / f"x.{kind}"
    with pytest.raises(Stop):
        if kind == "access":
            make_access(clips["h264_aac_mp4"], dest, progress=_stop_halfway)
        else:
            make_master(clips["mjpeg_pcm_avi" if kind == "ffv1" else "h264_aac_mp4"], dest, action=kind, progress=_stop_halfway)
    assert not dest.exists()
    assert list(out.iterdir()) == [] and stale_partials(out) == []


def test_outputs_are_written_once(clips, tmp_path):
    make_master(clips["h264_aac_mp4"], tmp_path / "m.mkv")
    before = (tmp_path / "m.mkv").read_bytes()
    with pytest.raises(ArchiveError, match="exists"):
        make_master(clips["h264_aac_mp4"], tmp_path / "m.mkv")
    assert (tmp_path / "m.mkv").read_bytes() == before
