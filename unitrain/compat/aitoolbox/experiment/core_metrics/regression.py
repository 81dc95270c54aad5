"""``aitoolbox.experiment.core_metrics.regression``: mean squared and absolute error."""

from __future__ import annotations

from typing import Any

import numpy as np

from unitrain.compat.aitoolbox.experiment.core_metrics.abstract_metric import AbstractBaseMetric
from unitrain.errors import ConfigError

__all__ = ["MeanAbsoluteErrorMetric", "MeanSquaredErrorMetric"]


def _errors(metric: AbstractBaseMetric) -> np.ndarray[Any, Any]:
    y_true = np.asarray(metric.y_true, dtype=float)
    y_pred = np.asarray(metric.y_predicted, dtype=float)
    if y_true.size != y_pred.size:
        raise ConfigError(
            f"{metric.metric_name}: y_true has {y_true.size} values but y_predicted has "
            f"{y_pred.size}; they must describe the same samples"
        )
    errors: np.ndarray[Any, Any] = y_pred.reshape(-1) - y_true.reshape(-1)
    return errors


class MeanSquaredErrorMetric(AbstractBaseMetric):
    """Mean of the squared errors."""

    def __init__(self, y_true: Any, y_predicted: Any) -> None:
        super().__init__(y_true, y_predicted, metric_name="Mean_squared_error")

    def calculate_metric(self) -> float:
        return float(np.mean(_errors(self) ** 2))


class MeanAbsoluteErrorMetric(AbstractBaseMetric):
    """Mean of the absolute errors."""

    def __init__(self, y_true: Any, y_predicted: Any) -> None:
        super().__init__(y_true, y_predicted, metric_name="Mean_absolute_error")

    def calculate_metric(self) -> float:
        return float(np.mean(np.abs(_errors(self))))
