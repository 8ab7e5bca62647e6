"""Where a font that draws Chinese lives on this machine: the one CJK font finder.

The project's set-up installs Debian's ``fonts-noto-cjk``. :func:`cjk_font_path` returns a Noto
CJK file (Sans Regular first: it reads best at small sizes), or another CJK font found under the
usual font folders; ``FOOTAGE_CJK_FONT`` names a file that wins over the search. Pillow
(:mod:`media.redact.sheet`) and matplotlib (:mod:`reports.fonts`) both draw with what it finds.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

__all__ = ["ENV", "FONT_DIRS", "cjk_font_path"]

#: environment variable naming a font file to use instead of searching
ENV = "FOOTAGE_CJK_FONT"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/System/Library/Fonts", "/Library/Fonts")
SUFFIXES = (".ttc", ".otf", ".ttf")
#: name fragments of CJK fonts, best first: Noto CJK, then WenQuanYi
FAMILIES = ("CJK", "wqy")


def cjk_font_path() -> Path | None:
    """The file of a font that draws Simplified Chinese, or None when there is none.

    Returns
    -------
    Path or None
        ``$FOOTAGE_CJK_FONT`` when it names a file; else the best match under :data:`FONT_DIRS`:
        Noto CJK before WenQuanYi, Sans before Serif, Regular before other weights.
    """
    env = os.environ.get(ENV)
    if env and Path(env).is_file():
        return Path(env)
    return _search()


@lru_cache(maxsize=1)
def _search() -> Path | None:
    # cached: walking the font folders takes a while and they do not change while we run;
    # the environment variable is read on every call so that a test or a caller can set it late
    found: list[Path] = []
    for root in FONT_DIRS:
        folder = Path(root).expanduser()
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and _family(p.name) is not None]
    if not found:
        return None
    return min(found, key=lambda p: (_family(p.name), "Sans" not in p.name, "Regular" not in p.name, p.name))


def _family(name: str) -> int | None:
    """Rank of the CJK family a file name belongs to (lower is better), None for other fonts."""
    return next((i for i, frag in enumerate(FAMILIES) if frag.lower() in name.lower()), None)
