"""``aitoolbox.torchtrain.callbacks.model_load``: continue training from a checkpoint."""

from unitrain.compat.aitoolbox.callbacks.model_load import ModelLoadContinueTraining

__all__ = ["ModelLoadContinueTraining"]
