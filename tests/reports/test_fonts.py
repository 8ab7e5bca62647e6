"""The one CJK font finder (media.fonts) and its matplotlib side (reports.fonts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.fonts import ENV, cjk_font_path

NOTO = Path("/usr/share/fonts/opentype/noto")  # where Debian's fonts-noto-cjk puts its files


@pytest.fixture()
def debian_noto(monkeypatch):
    if not (NOTO / "NotoSansCJK-Regular.ttc").is_file():
        pytest.skip("Debian's fonts-noto-cjk is not installed")
    monkeypatch.delenv(ENV, raising=False)


def test_finds_debians_noto_sans_cjk_regular(debian_noto):
    # Sans Regular, not Bold or Serif, which the package installs beside it
    assert cjk_font_path() == NOTO / "NotoSansCJK-Regular.ttc"


def test_the_environment_variable_wins(debian_noto, monkeypatch, tmp_path):
    serif = NOTO / "NotoSerifCJK-Regular.ttc"
    if not serif.is_file():
        pytest.skip("no serif CJK font to point at")
    monkeypatch.setenv(ENV, str(serif))
    assert cjk_font_path() == serif
    monkeypatch.setenv(ENV, str(tmp_path / "missing.ttc"))  # a wrong setting falls back to the search
    assert cjk_font_path() == NOTO / "NotoSansCJK-Regular.ttc"


def test_pillow_and_matplotlib_use_the_same_finder(debian_noto):
    from media.redact import sheet
    from reports.fonts import cjk_font

    assert sheet.cjk_font_path is cjk_font_path
    # matplotlib names a .ttc by its first face: Noto's collections start with the Japanese one
    assert cjk_font() == "Noto Sans CJK JP"
