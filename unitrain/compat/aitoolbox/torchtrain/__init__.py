"""``aitoolbox.torchtrain`` under ``unitrain.compat.aitoolbox.torchtrain``: the same names.

Replacing the import prefix ``aitoolbox.`` by ``unitrain.compat.aitoolbox.`` is the whole
migration; each module of this package mirrors the aitoolbox module of the same path.
"""

from unitrain.compat.aitoolbox.torchtrain.data.batch_model_feed_defs import (
    AbstractModelFeedDefinition,
)
from unitrain.compat.aitoolbox.torchtrain.data.dataset import BasicDataset
from unitrain.compat.aitoolbox.torchtrain.model import ModelWrap, TTModel
from unitrain.compat.aitoolbox.torchtrain.multi_loss_optim import MultiLoss, MultiOptimizer
from unitrain.compat.aitoolbox.torchtrain.parallel import TTDataParallel
from unitrain.compat.aitoolbox.torchtrain.train_loop import (
    TrainLoop,
    TrainLoopCheckpoint,
    TrainLoopCheckpointEndSave,
    TrainLoopEndSave,
)

__all__ = [
    "AbstractModelFeedDefinition",
    "BasicDataset",
    "ModelWrap",
    "MultiLoss",
    "MultiOptimizer",
    "TTDataParallel",
    "TTModel",
    "TrainLoop",
    "TrainLoopCheckpoint",
    "TrainLoopCheckpointEndSave",
    "TrainLoopEndSave",
]
