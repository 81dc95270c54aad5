"""``aitoolbox.torchtrain.train_loop.components.model_prediction_store``."""

from unitrain.compat.aitoolbox.predictions import ModelPredictionStore

__all__ = ["ModelPredictionStore"]
