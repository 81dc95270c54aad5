"""Stash keys the engine fills for plugins: services of the trainer a plugin may use."""

from __future__ import annotations

from unitrain.core.stash import StashKey
from unitrain.hooks.manager import PluginManager
from unitrain.hooks.timing import HookTimer

__all__ = ["HOOK_TIMER", "PLUGINS"]

#: The plugin manager's hook timer (see :mod:`unitrain.hooks.timing`); the profiler starts it.
HOOK_TIMER: StashKey[HookTimer] = StashKey("trainer.hook_timer")

#: The trainer's plugin manager, read-only for plugins: the run store records its plugin list.
PLUGINS: StashKey[PluginManager] = StashKey("trainer.plugins")
