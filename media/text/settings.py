"""Settings of the burned-in display (OSD) reader and its checks.

:class:`media.gaps.settings.GapSettings` embeds :class:`OsdSettings` as ``GapSettings.osd``, so
each field is set in ``footage.toml`` under ``[gaps.osd]`` or through
``FOOTAGE_GAPS__OSD__<FIELD>``, like the other gap thresholds.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from media.text.parse import DEVICE_LABELS, OFFICER_LABELS

#: What each finding concerns. A cut or reset clock inside a file is an interruption of the
#: record (article 21); the clock, device and officer numbers on screen are what GA/T 947 asks a
#: body camera to stamp on every picture.
DEFAULT_RULES: dict[str, str] = {
    "osd_time_jump": "第二十一条",
    "osd_clock_offset": "GA/T 947",
    "osd_id_mismatch": "GA/T 947",
    "osd_unreadable": "GA/T 947",
}


class OsdSettings(BaseModel):
    """How the on-screen display is found, read and checked. Seconds unless said otherwise."""

    enabled: bool = Field(
        False, description="read the display during the decode-level checks (media.gaps.qc.analyse)"
    )
    sample_rate: float = Field(1.0, gt=0, description="display samples taken per second of video")
    verify_every: int = Field(
        10,
        ge=1,
        description="run the recogniser on every n-th sample; the samples between are read only "
        "when the two readings around them disagree with the presentation time (1 reads all)",
    )
    read_time_only: bool = Field(
        True,
        description="once the clock line has been read whole, read only its time of day on later "
        "samples (the date carried over, midnight included); the whole line is read again "
        "whenever that reading disagrees with the presentation time",
    )
    threads: int = Field(
        1, ge=0, description="onnxruntime threads of the display's models: one suits their small "
        "inputs and leaves the other cores to the decoder (0: all cores)"
    )
    id_reads: int = Field(2, ge=1, description="samples on which the device/officer lines are read")
    # Finding the display.
    find_samples: int = Field(2, ge=2, description="samples searched for text that stays in place")
    find_spacing: float = Field(2.0, gt=0, description="seconds between the samples searched")
    find_rounds: int = Field(3, ge=1, description="searches tried before giving up on a file")
    find_round_spacing: float = Field(10.0, gt=0, description="seconds between searches")
    find_max_side: int = Field(
        640, ge=64, description="the picture is shrunk to this longer side for the search (px)"
    )
    recheck_max: int = Field(
        8, ge=0, description="when the first searched sample holds at most this many text boxes, the "
        "later ones are searched only around them, at full resolution (0: always the whole picture)"
    )
    refine_max_side: int = Field(
        1280, ge=64, description="the text found is looked at again around each box, at most this size (px)"
    )
    same_place_iou: float = Field(0.5, description="overlap for text to count as in the same place")
    det_thresh: float = Field(0.3, description="DB text pixel probability")
    det_box_thresh: float = Field(0.5, description="DB least mean probability of a text box")
    det_unclip_ratio: float = Field(1.6, description="DB box growth")
    min_score: float = Field(0.6, description="least recogniser confidence of a reading used")
    device_labels: list[str] = Field(
        default_factory=lambda: list(DEVICE_LABELS), description="labels before the device number (设备, 设备号 ...)"
    )
    officer_labels: list[str] = Field(
        default_factory=lambda: list(OFFICER_LABELS), description="labels before the officer number (警号, 警员 ...)"
    )
    # Checks.
    timezone: str = Field("Asia/Shanghai", description="zone of the wall-clock time on screen")
    jump_tolerance: float = Field(
        2.0, description="largest change of (time on screen - presentation time) that is not a jump (s)"
    )
    jump_confirm: int = Field(
        2, ge=1, description="readings that must agree on a new clock before a jump is reported "
        "(fewer, a lone one or the file's last, count as misreads)"
    )
    offset_tolerance: float = Field(
        120.0, description="largest difference between the time on screen and the recording's start (s)"
    )
    stamping_devices: list[str] = Field(
        default_factory=list,
        description="device ids (shell patterns) of cameras known to stamp the picture: "
        "osd_unreadable is reported for these only",
    )
    min_readable: float = Field(
        0.5, description="least share of read samples with a readable time, on a stamping camera"
    )
    rules: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RULES),
        description="what each display finding concerns (第二十一条 for a jump; GA/T 947 for the others)",
    )

    def rule(self, kind: str) -> str | None:
        return self.rules.get(kind)
