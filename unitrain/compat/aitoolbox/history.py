"""``TrainingHistory`` under its older flat path (see
:mod:`unitrain.compat.aitoolbox.experiment.training_history`)."""

from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory

__all__ = ["TrainingHistory"]
