"""GapSettings inside the project's settings: ``[gaps]`` in footage.toml and FOOTAGE_GAPS__*."""

from __future__ import annotations

from media.gaps.settings import GapSettings


def test_defaults_follow_ffmpeg():
    s = GapSettings()
    assert (s.black_ratio, s.black_pixel_threshold, s.black_min_duration) == (0.98, 0.10, 2.0)
    assert abs(s.freeze_noise - 0.001) < 1e-9 and abs(s.silence_noise - 0.001) < 1e-9
    assert s.rule("missing_opening_statement") == "第二十条" and s.rule("unexplained_interruption") == "第二十一条"


def test_embedded_in_settings(tmp_path, monkeypatch):
    from records.settings import load_settings

    toml = tmp_path / "footage.toml"
    toml.write_text("[gaps]\nresume_within = 45.0\nspeech = false\n")
    monkeypatch.setenv("FOOTAGE_CONFIG", str(toml))
    monkeypatch.setenv("FOOTAGE_GAPS__OPENING_MIN_SPEECH", "8")
    s = load_settings()
    assert s.gaps.resume_within == 45.0 and s.gaps.speech is False and s.gaps.opening_min_speech == 8.0
    assert s.gaps.black_ratio == 0.98
