"""Every threshold of the gap, quality and speech checks, in one pydantic model.

``flows/config.py`` embeds :class:`GapSettings` as ``Settings.gaps`` so each field can be set in
``footage.toml`` (``[gaps]``) or through ``FOOTAGE_GAPS__<FIELD>``. Defaults follow FFmpeg's
``blackdetect``, ``freezedetect`` and ``silencedetect`` where those filters have an equivalent, so
our findings and theirs can be compared one for one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from media.text.settings import OsdSettings

#: Article of the recording rules each finding concerns. Article 20 asks for the spoken opening
#: statement; article 21 for the reason of any interruption, stated on resuming or written down.
#: Loss of picture or sound is treated as an interruption of the record.
DEFAULT_RULES: dict[str, str] = {
    "missing_opening_statement": "第二十条",
    "unexplained_interruption": "第二十一条",
    "gap": "第二十一条",
    "discontinuity": "第二十一条",
    "dropped_frames": "第二十一条",
    "black": "第二十一条",
    "freeze": "第二十一条",
    "silence": "第二十一条",
    "no_audio": "第二十一条",
    "audio_dropout": "第二十一条",
    "duration_mismatch": "第二十一条",
}


class GapSettings(BaseModel):
    """Thresholds for :mod:`media.gaps`. Seconds unless said otherwise."""

    # Picture: blackdetect's defaults.
    black_min_duration: float = Field(2.0, description="shortest black stretch reported (s)")
    black_ratio: float = Field(0.98, description="share of black pixels for a black picture")
    black_pixel_threshold: float = Field(
        0.10,
        description="pixel darkness as a share of the luma range; limited range maps it to "
        "16 + t x 219, full range to t x 255 (as FFmpeg's blackdetect does)",
    )
    # Picture: freezedetect's defaults.
    freeze_noise_db: float = Field(-60.0, description="mean absolute luma difference, dB of full scale")
    freeze_min_duration: float = Field(2.0, description="shortest frozen stretch reported (s)")
    # Sound: silencedetect's defaults.
    silence_noise_db: float = Field(-60.0, description="sample level under which sound is silent (dBFS)")
    silence_min_duration: float = Field(2.0, description="shortest silence reported (s)")
    # Sound: dropouts are short runs of digital zero inside sound.
    dropout_level_db: float = Field(-90.0, description="sample level counted as digital zero (dBFS)")
    dropout_min_duration: float = Field(0.02, description="shortest dropout reported (s)")
    # Packets.
    dropped_frame_factor: float = Field(
        1.5, description="a video frame interval above this times the nominal one is a drop"
    )
    duration_mismatch: float = Field(1.0, description="largest audio/video length difference (s)")
    # Analysis resolution: every n-th luma row and column is read. Black and freeze are shares
    # and means over the picture, so a 1/16 sample changes no decision on camera pictures.
    luma_step: int = Field(4, ge=1, description="read every n-th luma row and column")
    # Off by default: without the loop filter a still picture's frame-to-frame difference can
    # rise above the freeze threshold (measured on 720p body-camera-like H.264: 0.00098-0.00099
    # against 0.00078-0.00082 fully decoded, threshold 0.001), and a frozen stretch FFmpeg's
    # freezedetect finds goes unreported (benchmarks/bench_ingest_e2e.py).
    fast_decode: bool = Field(
        False,
        description="skip the H.264/HEVC loop filter and non-reference frames while decoding: faster, "
        "but a frozen stretch near the threshold can be missed",
    )
    # Speech.
    speech: bool = Field(True, description="run voice activity detection")
    # The rules read speech only in the session's opening window and after each resume: there
    # the detector listens, and an hour-long recording costs the model a minute, not an hour.
    speech_scope: Literal["rules", "whole"] = Field(
        "rules",
        description="where voice activity detection listens: 'rules' only where the session rules read "
        "speech (the opening window, the resume windows), 'whole' the whole of every recording",
    )
    speech_threshold: float = Field(0.5, description="VAD probability that opens speech")
    speech_release: float = Field(0.35, description="VAD probability under which speech closes")
    speech_gate_db: float = Field(
        -50.0,
        description="windows quieter than this (RMS dBFS) are not speech and skip the model: "
        "officers' voices on a body camera are far louder",
    )
    speech_min_duration: float = Field(0.25, description="shortest speech segment kept (s)")
    speech_merge_gap: float = Field(1.0, description="pauses shorter than this join segments (s)")
    # Session rules.
    opening_within: float = Field(30.0, description="speech must start this soon after the first recording starts (s)")
    opening_window: float = Field(60.0, description="window at the session start where speech is totalled (s)")
    opening_min_speech: float = Field(5.0, description="least speech in that window (s)")
    resume_within: float = Field(30.0, description="speech must start this soon after a resume (s)")
    stop_min_duration: float = Field(
        2.0, description="an in-file timestamp jump or frame drop at least this long is an interruption (s)"
    )
    rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RULES))
    # The camera's burned-in display (media.text): off by default; [gaps.osd] in footage.toml.
    osd: OsdSettings = Field(default_factory=OsdSettings)

    @property
    def freeze_noise(self) -> float:
        return 10 ** (self.freeze_noise_db / 20)

    @property
    def silence_noise(self) -> float:
        return 10 ** (self.silence_noise_db / 20)

    @property
    def dropout_level(self) -> float:
        return 10 ** (self.dropout_level_db / 20)

    def rule(self, kind: str) -> str | None:
        return self.rules.get(kind) or self.osd.rule(kind)
