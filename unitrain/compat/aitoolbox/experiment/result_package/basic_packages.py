"""``aitoolbox.experiment.result_package.basic_packages``: general, binary classification,
classification and regression packages (the metric sets aitoolbox computed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from unitrain.compat.aitoolbox.experiment.core_metrics.abstract_metric import AbstractBaseMetric
from unitrain.compat.aitoolbox.experiment.core_metrics.classification import (
    AccuracyMetric,
    F1ScoreMetric,
    PrecisionRecallCurveAUCMetric,
    ROCAUCMetric,
)
from unitrain.compat.aitoolbox.experiment.core_metrics.regression import (
    MeanAbsoluteErrorMetric,
    MeanSquaredErrorMetric,
)
from unitrain.compat.aitoolbox.experiment.result_package.abstract_result_packages import (
    AbstractResultPackage,
)

__all__ = [
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "GeneralResultPackage",
    "RegressionResultPackage",
]

MetricClass = Callable[[Any, Any], AbstractBaseMetric]


class GeneralResultPackage(AbstractResultPackage):
    """Any metrics: a list of :class:`AbstractBaseMetric` classes (each built on
    ``(y_true, y_predicted)``), or a mapping of name → ``fn(y_true, y_predicted)``."""

    def __init__(
        self,
        metrics_list: Sequence[MetricClass] | Mapping[str, Callable[[Any, Any], Any]],
        strict_content_check: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__("GeneralResultPackage", strict_content_check, **kwargs)
        self.metrics_list = metrics_list

    def prepare_results_dict(self) -> dict[str, Any]:
        self.qa_check_hyperparameters_dict()
        if isinstance(self.metrics_list, Mapping):
            return {
                name: fn(self.y_true, self.y_predicted) for name, fn in self.metrics_list.items()
            }
        results: dict[str, Any] = {}
        for metric in self.metrics_list:
            results = results + metric(self.y_true, self.y_predicted)
        return results

    def qa_check_metrics_list(self) -> None:
        """Report an empty metric list or entries that are not metric classes."""
        if len(self.metrics_list) == 0:
            self.warn_about_result_data_problem("GeneralResultPackage: the metrics list is empty")
        if isinstance(self.metrics_list, Mapping):
            return
        for metric in self.metrics_list:
            if not (isinstance(metric, type) and issubclass(metric, AbstractBaseMetric)):
                self.warn_about_result_data_problem(
                    f"GeneralResultPackage: {metric!r} is not an AbstractBaseMetric subclass"
                )


class BinaryClassificationResultPackage(AbstractResultPackage):
    """Accuracy, ROC AUC, precision-recall AUC and F1 of positive-class probabilities."""

    def __init__(
        self,
        positive_class_thresh: float | None = 0.5,
        strict_content_check: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__("BinaryClassificationResult", strict_content_check, **kwargs)
        self.positive_class_thresh = positive_class_thresh

    def prepare_results_dict(self) -> dict[str, Any]:
        threshold = self.positive_class_thresh
        f1 = F1ScoreMetric(self.y_true, self.y_predicted, 0.5 if threshold is None else threshold)
        return (
            AccuracyMetric(self.y_true, self.y_predicted, positive_class_thresh=threshold)
            + ROCAUCMetric(self.y_true, self.y_predicted)
            + PrecisionRecallCurveAUCMetric(self.y_true, self.y_predicted)
            + f1
        )


class ClassificationResultPackage(AbstractResultPackage):
    """Accuracy of multi-class predictions (labels, or per-class scores: argmax)."""

    def __init__(self, strict_content_check: bool = False, **kwargs: Any) -> None:
        super().__init__("ClassificationResult", strict_content_check, **kwargs)

    def prepare_results_dict(self) -> dict[str, Any]:
        return AccuracyMetric(
            self.y_true, self.y_predicted, positive_class_thresh=None
        ).get_metric_dict()


class RegressionResultPackage(AbstractResultPackage):
    """Mean squared and mean absolute error."""

    def __init__(self, strict_content_check: bool = False, **kwargs: Any) -> None:
        super().__init__("RegressionResult", strict_content_check, **kwargs)

    def prepare_results_dict(self) -> dict[str, Any]:
        return MeanSquaredErrorMetric(self.y_true, self.y_predicted) + MeanAbsoluteErrorMetric(
            self.y_true, self.y_predicted
        )
