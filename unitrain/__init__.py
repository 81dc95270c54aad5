"""unitrain: one PyTorch training engine, one pluggy hook spec, four plugin styles."""

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
    Trainer,
    accuracy,
)
from unitrain.errors import (
    BatchError,
    ConfigError,
    PluginError,
    StageError,
    StateError,
    UnitrainError,
    UnitrainWarning,
)
from unitrain.hooks import Hooks, PluginManager, hookimpl, not_a_hook
from unitrain.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "AverageMetric",
    "BatchError",
    "ConfigError",
    "Hooks",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "PluginError",
    "PluginManager",
    "Stash",
    "StashKey",
    "StageError",
    "State",
    "StateError",
    "StepResult",
    "Task",
    "Trainer",
    "UnitrainError",
    "UnitrainWarning",
    "accuracy",
    "hookimpl",
    "not_a_hook",
]
