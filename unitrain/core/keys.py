"""Stash keys the engine fills for plugins: services of the trainer a plugin may use."""

from __future__ import annotations

from unitrain.core.stash import StashKey
from unitrain.hooks.timing import HookTimer

__all__ = ["HOOK_TIMER"]

#: The plugin manager's hook timer (see :mod:`unitrain.hooks.timing`); the profiler starts it.
HOOK_TIMER: StashKey[HookTimer] = StashKey("trainer.hook_timer")
