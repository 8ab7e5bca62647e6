"""Lazy package exports (PEP 562): a package's ``__init__`` names what it re-exports and from which
submodule, and each name is imported on first use.

So importing one light submodule (a pydantic settings model, as :mod:`records.settings` does)
loads neither the package's other modules nor what they import (PyAV, NumPy, onnxruntime), while
``from media.archive import make_master`` and ``import media.archive as archive;
archive.make_master`` work as before. A name equal to a submodule's (``media.archive.remux``) cannot
be exported this way: importing the submodule binds the package attribute to the module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the ``__init__`` of ``package``; ``exports`` maps each name to
    the submodule (relative to ``package``) that defines it."""
    def __getattr__(name: str) -> Any:
        sub = exports.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sub}"), name)
        setattr(sys.modules[package], name, value)  # the next use is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
