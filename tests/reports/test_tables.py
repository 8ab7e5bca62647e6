"""The one Markdown table writer: layout, escaping, empty tables."""

from __future__ import annotations

import pytest

from reports.tables import cell, markdown_table


def test_a_table_has_header_separator_and_rows():
    text = markdown_table(["a", "b"], [[1, None], ["x", 2.5]])
    assert text == "| a | b |\n|---|---|\n| 1 |  |\n| x | 2.5 |\n"


def test_pipes_are_escaped_and_line_breaks_flattened():
    text = markdown_table(["note | zh", "file"], [["电池\n更换|继续", "a|b.mp4"], ["one\r\ntwo\rthree", ""]])
    assert text.splitlines() == [
        "| note \\| zh | file |",
        "|---|---|",
        "| 电池 更换\\|继续 | a\\|b.mp4 |",
        "| one two three |  |",
    ]
    # every row still has exactly as many unescaped separators as the header
    for line in text.splitlines():
        assert line.replace("\\|", "").count("|") == 3


def test_cell():
    assert cell(None) == ""
    assert cell(0) == "0"
    assert cell("a|b") == "a\\|b"


def test_empty_table():
    assert markdown_table(["a"], [], empty="_none_\n") == "_none_\n"
    assert markdown_table(["a"], []) == "| a |\n|---|\n"


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [[1]])
