"""The checks a plugin passes at registration, and the message for a misspelt hook."""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any, Literal

from unitrain.errors import PluginError
from unitrain.hooks.specs import Hooks

__all__ = [
    "RankRule",
    "check_order",
    "check_ranks",
    "first_parameter",
    "snake_case",
    "unknown_hook_message",
]

RankRule = Literal["all", "main"] | int
"""Where a plugin runs: every rank, global rank 0 only, or the process whose local device
index (``LOCAL_RANK``) equals the integer."""


def check_order(name: str, order: object) -> int:
    if isinstance(order, bool) or not isinstance(order, int):
        raise PluginError(f"plugin {name!r}: order must be an int, got {order!r}")
    return order


def check_ranks(name: str, ranks: object) -> RankRule:
    if ranks in ("all", "main") or (isinstance(ranks, int) and not isinstance(ranks, bool)):
        if isinstance(ranks, int) and ranks < 0:
            raise PluginError(f"plugin {name!r}: device index rank rule must be >= 0, got {ranks}")
        return ranks
    raise PluginError(
        f"plugin {name!r}: ranks must be 'all', 'main' or a device index (int), got {ranks!r}"
    )


def unknown_hook_message(plugin: str, hook: str) -> str:
    known = [n for n in dir(Hooks) if not n.startswith("_")]
    close = difflib.get_close_matches(hook, known, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"plugin {plugin!r} implements {hook!r}, which is not a unitrain hook.{hint} "
        "If the method is a helper, not a hook, rename it or decorate it with "
        "@unitrain.not_a_hook. The hooks are listed in unitrain/hooks/specs.py."
    )


def first_parameter(function: Any) -> str | None:
    try:
        return next(iter(inspect.signature(function).parameters), None)
    except (TypeError, ValueError):  # builtins without a signature
        return None


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
