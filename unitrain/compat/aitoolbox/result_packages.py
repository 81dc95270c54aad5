"""Result packages: metrics over a whole split's predictions (numpy; no sklearn needed).

``package.prepare_result_package(y_true, y_predicted, hyperparameters, additional_results)``
computes ``results_dict`` (metric name → value) and returns it. Packages add with ``+``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from unitrain.errors import ConfigError

__all__ = [
    "AbstractResultPackage",
    "BinaryClassificationResultPackage",
    "ClassificationResultPackage",
    "GeneralResultPackage",
    "MultipleResultPackageWrapper",
    "RegressionResultPackage",
    "roc_auc",
    "average_precision",
]


def _numpy(values: Any) -> np.ndarray[Any, Any]:
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


class AbstractResultPackage:
    """Base: keeps the inputs, computes ``results_dict`` with :meth:`prepare_results_dict`."""

    requires_loss = False

    def __init__(self, pkg_name: str | None = None, strict_content_check: bool = False) -> None:
        self.pkg_name = pkg_name or type(self).__name__
        self.strict_content_check = strict_content_check
        self.y_true: np.ndarray[Any, Any] = np.empty(0)
        self.y_predicted: np.ndarray[Any, Any] = np.empty(0)
        self.hyperparameters: dict[str, Any] = {}
        self.additional_results: dict[str, Any] = {}
        self.results_dict: dict[str, Any] = {}

    def prepare_result_package(
        self,
        y_true: Any,
        y_predicted: Any,
        hyperparameters: Mapping[str, Any] | None = None,
        additional_results: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Compute the metrics of ``y_predicted`` against ``y_true``; returns them."""
        self.y_true, self.y_predicted = _numpy(y_true), _numpy(y_predicted)
        if len(self.y_true) != len(self.y_predicted):
            raise ConfigError(
                f"{self.pkg_name}: y_true has {len(self.y_true)} entries but y_predicted has "
                f"{len(self.y_predicted)}; they must describe the same samples"
            )
        self.hyperparameters = dict(hyperparameters or {})
        self.additional_results = dict(additional_results or {})
        self.results_dict = self.prepare_results_dict()
        return self.results_dict

    def prepare_results_dict(self) -> dict[str, Any]:
        """Metric name → value for the stored ``y_true`` / ``y_predicted``."""
        raise NotImplementedError

    def get_results(self) -> dict[str, Any]:
        """The last computed results."""
        if not self.results_dict and self.strict_content_check:
            raise ConfigError(f"{self.pkg_name}: prepare_result_package has not been called")
        return self.results_dict

    def get_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters given with the last results."""
        return self.hyperparameters

    def __add__(self, other: AbstractResultPackage) -> MultipleResultPackageWrapper:
        return MultipleResultPackageWrapper([self, other])


class MultipleResultPackageWrapper(AbstractResultPackage):
    """Several packages evaluated on the same predictions; results merged."""

    def __init__(self, packages: list[AbstractResultPackage]) -> None:
        super().__init__("MultipleResultPackageWrapper")
        self.packages = list(packages)

    def prepare_results_dict(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for package in self.packages:
            merged.update(package.prepare_result_package(self.y_true, self.y_predicted))
        return merged

    def __add__(self, other: AbstractResultPackage) -> MultipleResultPackageWrapper:
        return MultipleResultPackageWrapper([*self.packages, other])


class GeneralResultPackage(AbstractResultPackage):
    """Any metric functions ``fn(y_true, y_pred) -> value`` under their names."""

    def __init__(self, metrics_list: Mapping[str, Callable[[Any, Any], Any]]) -> None:
        super().__init__("GeneralResultPackage")
        self.metrics_list = dict(metrics_list)

    def prepare_results_dict(self) -> dict[str, Any]:
        return {name: fn(self.y_true, self.y_predicted) for name, fn in self.metrics_list.items()}


def _labels(y_predicted: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Class labels from labels, or from per-class scores (argmax over the last axis)."""
    return y_predicted.argmax(axis=-1) if y_predicted.ndim > 1 else y_predicted


def _precision_recall_f1(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], positive: Any
) -> tuple[float, float, float]:
    tp = float(np.sum((y_pred == positive) & (y_true == positive)))
    fp = float(np.sum((y_pred == positive) & (y_true != positive)))
    fn = float(np.sum((y_pred != positive) & (y_true == positive)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


class ClassificationResultPackage(AbstractResultPackage):
    """Accuracy and macro-averaged precision, recall and F1 over the classes present."""

    def prepare_results_dict(self) -> dict[str, Any]:
        y_true, y_pred = self.y_true.reshape(-1), _labels(self.y_predicted).reshape(-1)
        classes = np.union1d(y_true, y_pred)
        scores = np.array([_precision_recall_f1(y_true, y_pred, c) for c in classes])
        precision, recall, f1 = scores.mean(axis=0) if len(scores) else (0.0, 0.0, 0.0)
        return {
            "Accuracy": float(np.mean(y_true == y_pred)),
            "F1_score": float(f1),
            "Precision": float(precision),
            "Recall": float(recall),
        }


def roc_auc(y_true: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float:
    """Area under the ROC curve (rank statistic; ties count one half)."""
    positive = y_true == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y_true: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float:
    """Area under the precision-recall curve (average precision)."""
    positives = int((y_true == 1).sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    true_positives = np.cumsum(y_true[order] == 1)
    # One point per distinct threshold: the last index of each run of tied scores.
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    precision = true_positives[ends] / (ends + 1)
    recall = true_positives[ends] / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


class BinaryClassificationResultPackage(AbstractResultPackage):
    """Accuracy, ROC AUC, PR AUC, F1, precision and recall of a binary classifier.

    ``y_predicted`` holds scores or probabilities of the positive class (or one score per
    class, the last column being positive); labels are ``score >= positive_class_thresh``.
    """

    def __init__(self, positive_class_thresh: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positive_class_thresh = positive_class_thresh

    def prepare_results_dict(self) -> dict[str, Any]:
        scores = self.y_predicted
        if scores.ndim > 1:
            scores = scores[..., -1]
        scores, y_true = scores.reshape(-1).astype(float), self.y_true.reshape(-1)
        y_pred = (scores >= self.positive_class_thresh).astype(y_true.dtype)
        precision, recall, f1 = _precision_recall_f1(y_true, y_pred, 1)
        return {
            "Accuracy": float(np.mean(y_true == y_pred)),
            "ROC_AUC": roc_auc(y_true, scores),
            "PrecisionRecall_AUC": average_precision(y_true, scores),
            "F1_score": f1,
            "Precision": precision,
            "Recall": recall,
        }


class RegressionResultPackage(AbstractResultPackage):
    """Mean squared and mean absolute error."""

    def prepare_results_dict(self) -> dict[str, Any]:
        error = self.y_predicted.reshape(-1).astype(float) - self.y_true.reshape(-1).astype(float)
        return {
            "Mean_squared_error": float(np.mean(error**2)),
            "Mean_absolute_error": float(np.mean(np.abs(error))),
        }
