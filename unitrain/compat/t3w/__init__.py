"""t3w's API on the one unitrain engine: change ``import t3w`` to
``from unitrain.compat import t3w`` and the rest of a t3w script runs unchanged.

The contract (``IDatum``, ``IMiniBatch``, ``IDataset``, the metrics) is unitrain's own with
t3w's spellings added; ``TrainLoop`` / ``EvalLoop`` build and run a :class:`unitrain.Trainer`;
every ``ISideEffect`` is a plugin on the one hook spec, so it can sit beside native plugins
and other styles' plugins in one fit. What differs from t3w on purpose is listed in
:mod:`unitrain.compat.t3w.loops` and :mod:`unitrain.compat.t3w.progress`.
"""

from unitrain.compat.t3w.contract import (
    IDataset,
    IDatum,
    IMiniBatch,
    Interface,
    StepReturnDict,
    manual_seed,
)
from unitrain.compat.t3w.loops import EvalLoop, TrainLoop
from unitrain.compat.t3w.metrics import (
    AverageMetric,
    IDatasetMetric,
    ILoss,
    IMiniBatchMetric,
    LearningRate,
)
from unitrain.compat.t3w.module import TopLevelModule
from unitrain.compat.t3w.progress import TrainingProgress
from unitrain.compat.t3w.samplers import HarderBatchSampler
from unitrain.compat.t3w.side_effect import EngineLoop, ISideEffect
from unitrain.compat.t3w.side_effects import (
    SaveBestModelsSideEffect,
    TqdmSideEffect,
    WarmUpSideEffect,
)

__all__ = [
    "AverageMetric",
    "EngineLoop",
    "EvalLoop",
    "HarderBatchSampler",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "ISideEffect",
    "Interface",
    "LearningRate",
    "SaveBestModelsSideEffect",
    "StepReturnDict",
    "TopLevelModule",
    "TqdmSideEffect",
    "TrainLoop",
    "TrainingProgress",
    "WarmUpSideEffect",
    "manual_seed",
]
