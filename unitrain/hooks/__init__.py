"""The hook contract (``specs``), the markers, and the plugin manager."""

from unitrain.hooks.manager import PluginManager, PluginRecord, RankRule
from unitrain.hooks.markers import hookimpl, hookspec, not_a_hook
from unitrain.hooks.specs import Hooks

__all__ = [
    "Hooks",
    "PluginManager",
    "PluginRecord",
    "RankRule",
    "hookimpl",
    "hookspec",
    "not_a_hook",
]
