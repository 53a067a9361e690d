"""Package interfaces that import their modules only when a name is first used.

Each package of ``index`` lists what it offers in ``__all__``; the modules behind
those names pull in heavy libraries (torch, faiss, aiohttp, trafilatura), and a
command such as ``citebot list`` or ``citebot logs stats`` must not pay for the
ones it never touches. ``lazy_exports`` gives a package the module-level
``__getattr__`` and ``__dir__`` (PEP 562) that import a name's module on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``; ``where`` maps a name to its module."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
