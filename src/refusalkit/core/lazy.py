"""Lazy public names for a package (PEP 562), so `import refusalkit.<pkg>` stays cheap.

A package lists `name -> module` and gets the module-level `__getattr__`, `__dir__`
and `__all__` from `lazy_exports`; the module behind a name is imported on first use
(the openai SDK, torch or networkx are not loaded by the package import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(`__getattr__`, `__dir__`, `__all__`) for `package`, exporting `exports` lazily."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__, names
