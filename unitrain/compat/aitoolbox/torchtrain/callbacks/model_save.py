"""``aitoolbox.torchtrain.callbacks.model_save``: checkpoints and the final save."""

from unitrain.compat.aitoolbox.callbacks.model_save import (
    ModelCheckpoint,
    ModelIterationCheckpoint,
    ModelTrainEndSave,
)

__all__ = ["ModelCheckpoint", "ModelIterationCheckpoint", "ModelTrainEndSave"]
