"""Parsing the display's text: the layouts of the issue, weekdays, Chinese labels."""

from __future__ import annotations

from datetime import datetime

import pytest

from media.text.parse import parse_osd, same_id

T = datetime(2026, 11, 3, 9, 15, 0)


@pytest.mark.parametrize(
    "text, layout, weekday",
    [
        ("2026-11-03 09:15:00", "dashed", None),
        ("2026/11/03 09:15:00", "slashed", None),
        ("20261103 091500", "compact", None),
        ("20261103091500", "compact", None),
        ("2026-11-03 星期二 09:15:00", "dashed", "星期二"),
        ("2026/11/03星期二09:15:00", "slashed", "星期二"),  # the recogniser often drops spaces
        ("2026-1103星期二09:15:00", "dashed", "星期二"),  # ... and now and then a separator
        ("2026-11-03 0915:00", "dashed", None),
        ("20261103 星期二 091500", "compact", "星期二"),
        ("２０２６－１１－０３　周二　０９：１５：００", "dashed", "周二"),  # full-width forms
        ("2026年11月03日 星期二 09:15:00", "chinese", "星期二"),
        ("2026-11-03 TUE 09:15:00", "dashed", "TUE"),
    ],
)
def test_date_and_time_layouts(text, layout, weekday):
    f = parse_osd(text)
    assert (f.stamp, f.layout, f.weekday) == (T, layout, weekday)


@pytest.mark.parametrize("text", ["2026-13-03 09:15:00", "2026-11-03 25:15:00", "20261303 091500", "设备:DSJ-1", ""])
def test_no_time_where_there_is_none(text):
    assert parse_osd(text).stamp is None


@pytest.mark.parametrize(
    "text, device, officer",
    [
        ("设备:DSJ-A12345 警号:012345", "DSJ-A12345", "012345"),
        ("设备：DSJ-A12345警号：012345", "DSJ-A12345", "012345"),
        ("2026-11-03 09:15:00 警员编号 000123 设备编号 X9-7", "X9-7", "000123"),
        ("DEVICE ID: ab-1 OFFICER: 7", "AB-1", "7"),
        ("2026-11-03 09:15:00", None, None),
    ],
)
def test_device_and_officer_numbers(text, device, officer):
    f = parse_osd(text)
    assert (f.device, f.officer) == (device, officer)


def test_configurable_labels():
    assert parse_osd("机器 77 人员 88", device_labels=("机器",), officer_labels=("人员",)).officer == "88"


def test_same_id_ignores_case_width_and_separators():
    assert same_id("dsj-a12345", "DSJ A12345") and same_id("０１２３", "0123")
    assert not same_id("012345", "067890") and not same_id(None, "1")
