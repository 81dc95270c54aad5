"""t3w's API on the one unitrain engine. Migration is one substitution: ``t3w`` becomes
``unitrain.compat.t3w`` in the import lines (``from unitrain.compat.t3w import *``,
``unitrain.compat.t3w.core``, ``.plugins.tqdm``, ``.utils.dataset_samplers``, ...), and the
rest of a t3w script runs unchanged.

The contract (``IDatum``, ``IMiniBatch``, ``IDataset``, the metrics) is unitrain's own with
t3w's spellings added; ``TrainLoop`` / ``EvalLoop`` build and run a :class:`unitrain.Trainer`;
every ``ISideEffect`` is a plugin on the one hook spec, so it can sit beside native plugins
and other styles' plugins in one fit.

What differs from t3w on purpose (its bugs are not copied), each explained where it lives:

- :mod:`.loops`: ``on_train_finished`` fires; accumulation windows end with the epoch;
  ``epoch_per_eval=n`` evaluates after epochs n, 2n, ...; the scheduler steps after the
  epoch's evaluation; several devices run through unitrain's launcher; side effects are
  matched to their loop by identity; ``EvalLoop(breakpoint=True)`` works without a model.
- :mod:`.batches`: the default shuffling continues across ``save`` / ``load`` (t3w replayed
  epoch 1's order after a resume), so a resumed run equals an uninterrupted one bit for bit.
- :mod:`.module`: checkpoints are written atomically and loaded with
  ``torch.load(weights_only=True)``; files written by t3w itself (pickled numpy state) are
  refused with a message.
- :mod:`.progress`: ``training_progress.step`` counts optimizer steps, as t3w documented
  (its code counted micro-batches).
- :mod:`.metrics`: ``AverageMetric`` sums per-sample values exactly, so N processes give
  the value of one, bit for bit (t3w summed float32 batch means).
- :mod:`.plugins.tqdm`: bars drawn with rich; plain text lines when standard error is not a
  terminal.
- :mod:`.typedefs`: jaxtyping is optional (annotation-only stand-ins without it).
- :mod:`.utils`: ``CachedDataset`` (it unpickles files), the typed ``ArgumentParser`` and
  ``torchsummaryX`` are not provided.
"""

# ruff: noqa: F405 - the names come from t3w.core by its star import, listed in __all__
from unitrain.compat.t3w import utils
from unitrain.compat.t3w.core import *  # noqa: F403
from unitrain.compat.t3w.plugins import (
    AimSideEffect,
    SaveBestModelsSideEffect,
    TqdmSideEffect,
    WarmUpSideEffect,
)
from unitrain.compat.t3w.progress import TrainingProgress
from unitrain.compat.t3w.side_effect import EngineLoop
from unitrain.compat.t3w.utils import HarderBatchSampler

# t3w's star import: its core module's names (with what that module re-exported), its plugins
__all__ = [
    "ABC",
    "AimSideEffect",
    "Any",
    "AverageMetric",
    "BatchSampler",
    "Bool",
    "Callable",
    "DataLoader",
    "Dict",
    "DistributedDataParallel",
    "DistributedSampler",
    "EngineLoop",
    "Enum",
    "EvalLoop",
    "Float",
    "FloatScalarTensor",
    "FloatTensor",
    "HarderBatchSampler",
    "Hashable",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMediaProducer",
    "IMiniBatch",
    "IMiniBatchMetric",
    "ISideEffect",
    "Interface",
    "LearningRate",
    "List",
    "Literal",
    "Mapping",
    "MediaData",
    "MediaManager",
    "MediaType",
    "MiniBatchFloats",
    "NewType",
    "Optimizer",
    "Optional",
    "Path",
    "ProbeData",
    "Sampler",
    "SaveBestModelsSideEffect",
    "Sequence",
    "Shaped",
    "StepReturnDict",
    "Tensor",
    "TopLevelModule",
    "TqdmSideEffect",
    "TrainLoop",
    "TrainingProgress",
    "Type",
    "Union",
    "WarmUpSideEffect",
    "abstractmethod",
    "asdict",
    "dataclass",
    "default_collate",
    "dist",
    "glob",
    "gzip",
    "manual_seed",
    "mp",
    "nn",
    "np",
    "os",
    "pprint",
    "random",
    "sys",
    "torch",
    "utils",
    "wraps",
]
