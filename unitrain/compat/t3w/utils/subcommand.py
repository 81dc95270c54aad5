"""t3w's minimal sub-command dispatch: ``@cmd`` registers a function, ``main()`` runs the one
named by ``sys.argv[1]`` with the remaining arguments."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["cmd", "main"]

_registry: dict[str, Callable[[list[str]], Any]] = {}


def cmd(subcommand: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """Register ``subcommand`` under its function name (a duplicate name is refused)."""
    name = subcommand.__name__
    if name in _registry:
        raise RuntimeError(f"@cmd: a sub-command named {name!r} is registered already")
    _registry[name] = subcommand
    return subcommand


def main(argv: list[str] | None = None) -> Any:
    """Run the sub-command named by the first argument, or print the usage line."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in _registry:
        return _registry[args[0]](args[1:])
    print(f"Usage: python {sys.argv[0]} {'|'.join(_registry)}")
    return None
