"""One export style for every hfnet package: names listed up front, their modules imported on first use.

``import hfnet.pruning`` then costs nothing (no torch), ``dir()`` and tab completion list every public name, and
``from hfnet.pruning import snip_scores`` works as usual.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package whose public function may share its name with the submodule defining it (``ranking.logme``).

    Importing a submodule binds it on its package, which would hide the function of the same name; the package
    keeps the function bound instead, as an eager ``from .logme import logme`` in ``__init__`` would.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        exports = self.__dict__.get("_EXPORTS", {})
        if isinstance(value, types.ModuleType) and exports.get(name) == value.__name__ and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package whose public ``name`` lives in module ``exports[name]``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(importlib.import_module(package).__dict__))

    sys.modules[package].__class__ = _LazyPackage
    return __getattr__, __dir__
