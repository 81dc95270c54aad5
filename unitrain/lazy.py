"""Lazy package exports (PEP 562): a name is imported from its module on first use.

Each package keeps a ``_LAZY`` map (exported name → module) and gets its ``__getattr__`` /
``__dir__`` from :func:`lazy_exports`, so ``import unitrain.plugins`` imports no plugin
until one is named. A resolved name is stored in the package's namespace: later lookups
are plain attribute reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, lazy: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``lazy``."""

    def __getattr__(name: str) -> Any:
        if name not in lazy:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(lazy[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *lazy})

    return __getattr__, __dir__
