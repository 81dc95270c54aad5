"""The two pluggy markers of the ``unitrain`` project.

``@hookimpl`` marks a plugin method as a hook implementation; methods named
``on_*``, ``run_*`` or ``make_*`` are picked up without it (see the manager).
"""

from __future__ import annotations

from typing import Final, TypeVar

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec", "not_a_hook"]

PROJECT: Final = "unitrain"

hookspec: Final = pluggy.HookspecMarker(PROJECT)
hookimpl: Final = pluggy.HookimplMarker(PROJECT)

F = TypeVar("F")


def not_a_hook(function: F) -> F:
    """Mark a method whose name starts with ``on_``, ``run_`` or ``make_`` as a plain helper.

    Without it, the manager takes such a method for a hook implementation and rejects
    it when no hook of that name exists.
    """
    function.unitrain_not_a_hook = True  # type: ignore[attr-defined]
    return function
