"""``aitoolbox.torchtrain.train_loop``: the train loop and its tracking variants."""

from unitrain.compat.aitoolbox.torchtrain.train_loop.train_loop import TrainLoop
from unitrain.compat.aitoolbox.torchtrain.train_loop.train_loop_tracking import (
    TrainLoopCheckpoint,
    TrainLoopCheckpointEndSave,
    TrainLoopEndSave,
)

__all__ = ["TrainLoop", "TrainLoopCheckpoint", "TrainLoopCheckpointEndSave", "TrainLoopEndSave"]
