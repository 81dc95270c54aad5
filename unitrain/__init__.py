"""unitrain: one PyTorch training engine, one pluggy hook spec, four plugin styles."""

from importlib import metadata as _metadata

from unitrain import log as _log  # noqa: F401  (installs the library's NullHandler)
from unitrain.core import (
    AverageMetric,
    IDataset,
    IDatasetMetric,
    IDatum,
    ILoss,
    IMiniBatch,
    IMiniBatchMetric,
    Stash,
    StashKey,
    State,
    StepResult,
    accuracy,
)
from unitrain.errors import (
    BatchError,
    BusError,
    CheckpointError,
    ConfigError,
    NonFiniteError,
    PluginError,
    PluginLoadWarning,
    StageError,
    StateError,
    UnitrainError,
    UnitrainWarning,
    WorkerError,
)
from unitrain.hooks import Hooks, PluginManager, hookimpl, not_a_hook
from unitrain.lr_finder import lr_find
from unitrain.seeding import seed_everything
from unitrain.tasks import Task
from unitrain.trainer import Trainer

try:
    __version__ = _metadata.version("unitrain")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AverageMetric",
    "BatchError",
    "BusError",
    "CheckpointError",
    "ConfigError",
    "Hooks",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "NonFiniteError",
    "PluginError",
    "PluginLoadWarning",
    "PluginManager",
    "StageError",
    "Stash",
    "StashKey",
    "State",
    "StateError",
    "StepResult",
    "Task",
    "Trainer",
    "UnitrainError",
    "UnitrainWarning",
    "WorkerError",
    "accuracy",
    "hookimpl",
    "lr_find",
    "not_a_hook",
    "seed_everything",
]
