"""Every exception and warning unitrain raises, as one tree.

```
UnitrainError                 base of everything unitrain raises on purpose
├── PluginError               a plugin cannot be registered (misspelt hook, bad arguments,
│                             duplicate name, bad order or rank rule)
├── ConfigError               an argument or setting is invalid (raised before any work)
│   └── ConfigTypeError       ... because it has the wrong type (also a TypeError)
├── BatchError                a batch has the wrong type or its tensors disagree in size
├── StageError                a stage hook gave no result, or the wrong kind of result
├── BusError                  a bus message does not fit its bundle, or topics form a cycle
├── StateError                the engine was used out of order (e.g. predict before setup)
├── CheckpointError           a checkpoint cannot be written, verified or loaded (names the path)
├── RunError                  a run folder's own file (run.json, metrics.jsonl) is unusable
│   └── RunLockedError        another live process owns the run folder (names its pid, host)
├── NonFiniteError            a loss or gradient is NaN / inf (raised before the optimizer step)
└── WorkerError               a distributed worker failed (names its rank, carries its traceback)

UnitrainWarning               base of every warning unitrain emits
└── PluginLoadWarning         an enabled third-party plugin was skipped (lenient loading)
```

Every message says what was wrong, where, what was expected and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "BusError",
    "CheckpointError",
    "ConfigError",
    "ConfigTypeError",
    "NonFiniteError",
    "PluginError",
    "PluginLoadWarning",
    "RunError",
    "RunLockedError",
    "StageError",
    "StateError",
    "UnitrainError",
    "UnitrainWarning",
    "WorkerError",
]


class UnitrainError(Exception):
    """Base class of every error unitrain raises on purpose."""


class PluginError(UnitrainError):
    """A plugin could not be registered: the message names the plugin and the hook."""


class ConfigError(UnitrainError, ValueError):
    """An argument or setting is invalid; raised before any training work is done."""


class ConfigTypeError(ConfigError, TypeError):
    """An argument has the wrong type (a ``TypeError`` as well, where the older APIs raised
    one, e.g. aitoolbox's savers and training history)."""


class BatchError(UnitrainError, TypeError):
    """A batch (or what a collate function returned) cannot be used by the engine."""


class StageError(UnitrainError):
    """A stage hook returned nothing, or something of the wrong kind."""


class BusError(UnitrainError, ValueError):
    """A message bus message does not fit its bundle, or derived topics depend on each other
    in a cycle (a ``ValueError``, as ikkuna raised)."""


class StateError(UnitrainError, RuntimeError):
    """The engine or a plugin was used at a point in the lifecycle where that is not allowed."""


class CheckpointError(UnitrainError):
    """A checkpoint could not be written (disk full, permissions), is partial or corrupt, or
    holds objects that ``torch.load(weights_only=True)`` refuses; the message names the path."""


class RunError(UnitrainError):
    """A file of a run folder (``run.json``, ``metrics.jsonl``, the lock) is missing, malformed
    or not a regular file; the message names the file and what to do."""


class RunLockedError(RunError):
    """Another live process holds the run folder's lock; the message names its pid and host."""


class WorkerError(UnitrainError, RuntimeError):
    """A process of a distributed run failed; every other process was stopped.

    ``rank`` is the rank that failed first and ``worker_traceback`` its traceback, as
    torchelastic recorded it in the rank's error file.
    """

    rank: int = -1
    worker_traceback: str = ""


class NonFiniteError(UnitrainError, FloatingPointError):
    """A loss or gradient is NaN or infinite; raised before the optimizer step, naming the
    epoch, batch index and step (see :class:`unitrain.plugins.nan_guard.NanGuard`)."""


class UnitrainWarning(UserWarning):
    """Base class of every warning unitrain emits."""


class PluginLoadWarning(UnitrainWarning):
    """An enabled entry-point plugin failed to load and was skipped (lenient mode)."""
