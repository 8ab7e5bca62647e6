"""The format policy decides the master per source codec and container."""

from __future__ import annotations

import pytest

from media.archive import Action, ArchiveSettings, FormatPolicy, FormatRule, decide


@pytest.mark.parametrize(
    "codec, container, action",
    [
        ("h264", "mov,mp4,m4a,3gp,3g2,mj2", Action.REMUX),
        ("hevc", "matroska,webm", Action.REMUX),
        ("hevc", "mov,mp4,m4a,3gp,3g2,mj2", Action.REMUX),  # body cameras' H.265 in MP4 or MOV
        ("msmpeg4v3", "avi", Action.FFV1),
        ("msmpeg4v2", "avi", Action.FFV1),
        ("cinepak", "avi", Action.FFV1),
        ("mjpeg", "avi", Action.FFV1),
        ("mpeg4", "avi", Action.FFV1),
        ("wmv3", "asf", Action.FFV1),  # unknown to the rules: the risky default
        (None, "wav", Action.FFV1),
    ],
)
def test_default_policy(codec, container, action):
    assert FormatPolicy().decide(codec, container) is action


def test_container_rules_match_any_ffmpeg_name_and_first_rule_wins():
    policy = FormatPolicy(
        rules=[FormatRule(codec="h264", container="avi", action=Action.FFV1), *FormatPolicy().rules]
    )
    assert policy.decide("h264", "avi") is Action.FFV1
    assert policy.decide("h264", "mov,mp4,m4a,3gp,3g2,mj2") is Action.REMUX
    assert FormatPolicy(rules=[FormatRule(codec="h264", container="mp4", action=Action.FFV1)]).decide(
        "h264", "mov,mp4,m4a,3gp,3g2,mj2"
    ) is Action.FFV1


def test_settings_load_from_plain_data_as_config_does():
    s = ArchiveSettings.model_validate(
        {"policy": {"rules": [{"codec": "mpeg4", "action": "remux"}], "default": "remux"}, "ffv1": {"slices": 16}}
    )
    assert s.policy.decide("mpeg4", "avi") is Action.REMUX
    assert s.policy.decide("cinepak", "avi") is Action.REMUX  # rules replaced, default applies
    assert s.ffv1.codec_options() == {"level": "3", "g": "1", "slicecrc": "1", "slices": "16", "context": "0"}
    with pytest.raises(ValueError):
        ArchiveSettings.model_validate({"ffv1": {"slices": 2}})
    with pytest.raises(ValueError):
        ArchiveSettings.model_validate({"ffv1": {"gop": 10}})


@pytest.mark.shared
@pytest.mark.parametrize(
    "name, action",
    [
        ("opencv-doc__vtest.avi", Action.FFV1),  # MS-MPEG4 v3
        ("opencv-doc__tree.avi", Action.FFV1),  # Cinepak
        ("mmaction2__test.avi", Action.FFV1),  # MPEG-4 Part 2
        ("intel-sample-videos__asl_again.mkv", Action.REMUX),  # H.264 in Matroska
        ("opencv-doc__cup.mp4", Action.REMUX),  # H.264 in MP4
    ],
)
def test_policy_on_real_files(footage, name, action):
    assert decide(footage(name)) is action
