"""The engine: state, loop, trainer, the typed data contract and its metrics."""

from unitrain.core.contract import IDataset, IDatum, IMiniBatch
from unitrain.core.engine import Trainer
from unitrain.core.metrics import AverageMetric, IDatasetMetric, ILoss, IMiniBatchMetric, accuracy
from unitrain.core.result import StepResult
from unitrain.core.stash import Stash, StashKey
from unitrain.core.state import State

__all__ = [
    "AverageMetric",
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
    "Trainer",
    "accuracy",
]
