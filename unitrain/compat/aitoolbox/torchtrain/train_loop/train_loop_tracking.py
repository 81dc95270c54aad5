"""``aitoolbox.torchtrain.train_loop.train_loop_tracking``: loops that save the experiment."""

from unitrain.compat.aitoolbox.tracking import (
    TrainLoopCheckpoint,
    TrainLoopCheckpointEndSave,
    TrainLoopEndSave,
)

__all__ = ["TrainLoopCheckpoint", "TrainLoopCheckpointEndSave", "TrainLoopEndSave"]
