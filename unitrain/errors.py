"""Every exception and warning unitrain raises, as one tree.

```
UnitrainError                 base of everything unitrain raises on purpose
├── PluginError               a plugin cannot be registered (misspelt hook, bad arguments,
│                             duplicate name, bad order or rank rule)
├── ConfigError               an argument or setting is invalid (raised before any work)
├── BatchError                a batch has the wrong type or its tensors disagree in size
├── StageError                a stage hook gave no result, or the wrong kind of result
└── StateError                the engine was used out of order (e.g. predict before setup)

UnitrainWarning               base of every warning unitrain emits
```

Every message says what was wrong, where, what was expected and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "ConfigError",
    "PluginError",
    "StageError",
    "StateError",
    "UnitrainError",
    "UnitrainWarning",
]


class UnitrainError(Exception):
    """Base class of every error unitrain raises on purpose."""


class PluginError(UnitrainError):
    """A plugin could not be registered: the message names the plugin and the hook."""


class ConfigError(UnitrainError, ValueError):
    """An argument or setting is invalid; raised before any training work is done."""


class BatchError(UnitrainError, TypeError):
    """A batch (or what a collate function returned) cannot be used by the engine."""


class StageError(UnitrainError):
    """A stage hook returned nothing, or something of the wrong kind."""


class StateError(UnitrainError, RuntimeError):
    """The engine or a plugin was used at a point in the lifecycle where that is not allowed."""


class UnitrainWarning(UserWarning):
    """Base class of every warning unitrain emits."""
