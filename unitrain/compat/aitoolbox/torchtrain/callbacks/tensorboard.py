"""``aitoolbox.torchtrain.callbacks.tensorboard``: TensorBoard logging callbacks."""

from unitrain.compat.aitoolbox.callbacks.tensorboard import (
    TensorboardFullTracking,
    TensorboardTrainBatchLoss,
    TensorboardTrainHistoryMetric,
)

__all__ = ["TensorboardFullTracking", "TensorboardTrainBatchLoss", "TensorboardTrainHistoryMetric"]
