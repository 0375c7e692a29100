"""Public names of a package imported on first use (PEP 562), so that importing one module
of a stage does not load the others: ``mailer run-due`` loads the worker, not the
validation of new schedules; ``import mailer`` loads no stage at all."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package*: each name of *homes* (name → the module
    that defines it, relative to *package*) imported from its home on first use and kept
    in the package, any other name an AttributeError. ``__all__ = sorted(homes)`` names
    them for ``from package import *`` and the docs."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return getattr_
