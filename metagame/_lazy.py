"""Lazy exports (PEP 562): a package lists the names it exports and the module each lives in;
that module is imported when the name is first used, so importing the package stays cheap
(``from metagame.agents import plan`` never imports Ray)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``exports`` maps a name to ``"module"`` (the name is an attribute of that module, which may
    be given relative to the package with a leading dot), ``"module:attribute"``, or
    ``"module:"`` for the module itself. A name, once loaded, is stored in the package.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, sep, attr = exports[name].partition(":")
        module = importlib.import_module(module_name, package)
        value = module if sep and not attr else getattr(module, attr or name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
