"""Chinese text in matplotlib figures: registers the font :mod:`media.fonts` finds.

Every chart of every report draws inside :func:`cjk_fonts`, so a zh-CN title renders the same in
the compliance charts and in a session's timeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from media.fonts import cjk_font_path

__all__ = ["cjk_font", "cjk_fonts"]

#: matplotlib's own font, which has every Latin glyph; the fallback after the CJK font
LATIN = "DejaVu Sans"


def cjk_font() -> str | None:
    """Register the CJK font with matplotlib and return its family name.

    Returns
    -------
    str or None
        The family name matplotlib knows the font by (for Debian's ``NotoSansCJK-Regular.ttc``
        the first face of the collection), or None when no CJK font was found or it cannot load.
    """
    path = cjk_font_path()
    return None if path is None else _register(str(path))


@lru_cache(maxsize=8)
def _register(path: str) -> str | None:
    # once per file: fontManager.addfont appends to its list on every call; matplotlib is
    # imported here, not at the top, because it is slow to load and most commands never draw
    from matplotlib import font_manager

    try:
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    except (RuntimeError, OSError, ValueError):
        return None


@contextmanager
def cjk_fonts() -> Iterator[str | None]:
    """Draw with the CJK font first and DejaVu Sans after it, for the figures made inside.

    Yields
    ------
    str or None
        The CJK family in use (None when there is none: Chinese labels then show as boxes).
    """
    import matplotlib  # only when drawing: see _register

    family = cjk_font()
    with matplotlib.rc_context({"font.family": [family, LATIN] if family else [LATIN]}):
        yield family
