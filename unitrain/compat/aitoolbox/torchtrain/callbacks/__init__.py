"""``aitoolbox.torchtrain.callbacks``: the shipped callbacks, by aitoolbox's module paths."""

from unitrain.compat.aitoolbox.torchtrain.callbacks.abstract import (
    AbstractCallback,
    AbstractExperimentCallback,
)
from unitrain.compat.aitoolbox.torchtrain.callbacks.basic import (
    AllPredictionsSame,
    EarlyStopping,
    TerminateOnNaN,
    ThresholdEarlyStopping,
)
from unitrain.compat.aitoolbox.torchtrain.callbacks.gradient import GradNormClip, GradValueClip
from unitrain.compat.aitoolbox.torchtrain.callbacks.performance_eval import (
    ModelPerformanceEvaluation,
    ModelPerformancePrintReport,
    ModelTrainHistoryFileWriter,
    ModelTrainHistoryPlot,
)
from unitrain.compat.aitoolbox.torchtrain.callbacks.tensorboard import (
    TensorboardFullTracking,
    TensorboardTrainHistoryMetric,
)
from unitrain.compat.aitoolbox.torchtrain.schedulers.basic import (
    ReduceLROnPlateauMetricScheduler,
    ReduceLROnPlateauScheduler,
)
from unitrain.compat.aitoolbox.torchtrain.schedulers.warmup import LinearWithWarmupScheduler

__all__ = [
    "AbstractCallback",
    "AbstractExperimentCallback",
    "AllPredictionsSame",
    "EarlyStopping",
    "GradNormClip",
    "GradValueClip",
    "LinearWithWarmupScheduler",
    "ModelPerformanceEvaluation",
    "ModelPerformancePrintReport",
    "ModelTrainHistoryFileWriter",
    "ModelTrainHistoryPlot",
    "ReduceLROnPlateauMetricScheduler",
    "ReduceLROnPlateauScheduler",
    "TensorboardFullTracking",
    "TensorboardTrainHistoryMetric",
    "TerminateOnNaN",
    "ThresholdEarlyStopping",
]
