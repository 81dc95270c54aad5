"""The engine: state, loop, schedules, the engine itself, the typed data contract and its
metrics. (:class:`unitrain.Trainer` is this engine with its extensions: :mod:`unitrain.trainer`.)"""

from unitrain.core.contract import IDataset, IDatum, IMiniBatch
from unitrain.core.engine import Engine
from unitrain.core.metrics import AverageMetric, IDatasetMetric, ILoss, IMiniBatchMetric, accuracy
from unitrain.core.result import StepResult
from unitrain.core.stash import Stash, StashKey
from unitrain.core.state import State

__all__ = [
    "AverageMetric",
    "Engine",
    "IDatasetMetric",
    "IDataset",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "Stash",
    "StashKey",
    "State",
    "StepResult",
    "accuracy",
]
