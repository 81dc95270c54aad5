"""``aitoolbox.torchtrain.callbacks.performance_eval``: metrics, reports, history files."""

from unitrain.compat.aitoolbox.callbacks.history import (
    MetricHistoryRename,
    ModelTrainHistoryFileWriter,
    ModelTrainHistoryPlot,
    TrainHistoryFormatter,
)
from unitrain.compat.aitoolbox.callbacks.performance import (
    ModelPerformanceEvaluation,
    ModelPerformancePrintReport,
)

__all__ = [
    "MetricHistoryRename",
    "ModelPerformanceEvaluation",
    "ModelPerformancePrintReport",
    "ModelTrainHistoryFileWriter",
    "ModelTrainHistoryPlot",
    "TrainHistoryFormatter",
]
