"""``aitoolbox.experiment.core_metrics.classification``: accuracy, ROC / PR AUC, F1,
precision and recall (binary metrics take the positive class to be 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from unitrain.compat.aitoolbox.experiment.core_metrics._numeric import (
    binary_counts,
    pr_curve_auc,
    roc_auc,
)
from unitrain.compat.aitoolbox.experiment.core_metrics.abstract_metric import AbstractBaseMetric
from unitrain.errors import ConfigError

__all__ = [
    "AccuracyMetric",
    "F1ScoreMetric",
    "PrecisionMetric",
    "PrecisionRecallCurveAUCMetric",
    "ROCAUCMetric",
    "RecallMetric",
]


def _ratio(numerator: float, denominator: float) -> float:
    # scikit-learn's zero_division default: an undefined ratio counts as 0.
    return numerator / denominator if denominator else 0.0


class AccuracyMetric(AbstractBaseMetric):
    """Share of correct labels.

    Per-class scores (a second axis longer than 1) become labels by argmax; otherwise,
    with ``positive_class_thresh`` set and predictions within [0, 1], a prediction is
    positive at or above the threshold. Set the threshold to ``None`` for class labels.
    """

    def __init__(
        self, y_true: Any, y_predicted: Any, positive_class_thresh: float | None = 0.5
    ) -> None:
        self.positive_class_thresh = positive_class_thresh
        super().__init__(y_true, y_predicted, metric_name="Accuracy")

    def calculate_metric(self) -> float:
        y_pred, y_true = self.y_predicted, self.y_true
        if y_pred.ndim > 1 and y_pred.shape[1] > 1:
            y_pred = np.argmax(y_pred, axis=1)
        elif self.positive_class_thresh is not None:
            if np.min(y_pred) >= 0.0 and np.max(y_pred) <= 1.0:
                y_pred = y_pred >= self.positive_class_thresh
            else:
                print(
                    "AccuracyMetric: predictions outside [0, 1] are not probabilities; the "
                    "positive_class_thresh was not applied"
                )
        if y_true.ndim > 1 and y_true.shape[1] > 1:
            y_true = np.argmax(y_true, axis=1)
        self.y_predicted, self.y_true = y_pred, y_true
        y_pred, y_true = y_pred.reshape(len(y_pred), -1), y_true.reshape(len(y_true), -1)
        if y_pred.shape != y_true.shape:
            raise ConfigError(
                f"AccuracyMetric: y_true has shape {y_true.shape} but the predicted labels "
                f"have shape {y_pred.shape}"
            )
        # A row counts as correct when every label in it matches (subset accuracy).
        return float(np.mean(np.all(y_true == y_pred, axis=1)))


class ROCAUCMetric(AbstractBaseMetric):
    """Area under the ROC curve of positive-class scores."""

    def __init__(self, y_true: Any, y_predicted: Any) -> None:
        super().__init__(y_true, y_predicted, metric_name="ROC_AUC")

    def calculate_metric(self) -> float:
        return roc_auc(self.y_true, self.y_predicted)


class PrecisionRecallCurveAUCMetric(AbstractBaseMetric):
    """Area under the precision-recall curve of positive-class scores."""

    def __init__(self, y_true: Any, y_predicted: Any) -> None:
        super().__init__(y_true, y_predicted, metric_name="PrecisionRecall_AUC")

    def calculate_metric(self) -> float:
        return pr_curve_auc(self.y_true, self.y_predicted)


class _ThresholdMetric(AbstractBaseMetric):
    """A binary metric on labels ``y_predicted > positive_class_thresh``."""

    name = ""

    def __init__(self, y_true: Any, y_predicted: Any, positive_class_thresh: float = 0.5) -> None:
        self.positive_class_thresh = positive_class_thresh
        super().__init__(y_true, y_predicted, metric_name=self.name)

    def counts(self) -> tuple[float, float, float]:
        labels = np.where(self.y_predicted > self.positive_class_thresh, 1, 0)
        return binary_counts(self.y_true, labels)


class F1ScoreMetric(_ThresholdMetric):
    """F1 score of the positive class."""

    name = "F1_score"

    def calculate_metric(self) -> float:
        tp, fp, fn = self.counts()
        return _ratio(2 * tp, 2 * tp + fp + fn)


class PrecisionMetric(_ThresholdMetric):
    """Precision of the positive class."""

    name = "Precision"

    def calculate_metric(self) -> float:
        tp, fp, _ = self.counts()
        return _ratio(tp, tp + fp)


class RecallMetric(_ThresholdMetric):
    """Recall of the positive class."""

    name = "Recall"

    def calculate_metric(self) -> float:
        tp, _, fn = self.counts()
        return _ratio(tp, tp + fn)
