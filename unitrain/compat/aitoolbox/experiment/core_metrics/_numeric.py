"""The numbers behind the classification metrics, in numpy (scikit-learn's definitions,
checked against it in the tests, without depending on it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from unitrain.errors import ConfigError

__all__ = ["binary_counts", "pr_curve_auc", "roc_auc"]

Array = np.ndarray[Any, Any]


def roc_auc(y_true: Array, scores: Array) -> float:
    """Area under the ROC curve (the rank statistic; ties count one half)."""
    y_true, scores = y_true.reshape(-1), scores.reshape(-1).astype(float)
    positive = y_true == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError(
            "ROC AUC is undefined when y_true holds only one class; evaluate it on a split "
            "that has both positive and negative examples"
        )
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    # Average rank over each run of tied scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end - 1) / 2.0 + 1.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pr_curve_auc(y_true: Array, scores: Array) -> float:
    """Trapezoidal area under the precision-recall curve (as ``auc(recall, precision)``
    over scikit-learn's ``precision_recall_curve``)."""
    y_true, scores = y_true.reshape(-1), scores.reshape(-1).astype(float)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, hits = scores[order], (y_true[order] == 1).astype(float)
    thresholds = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tps = np.cumsum(hits)[thresholds]
    fps = 1 + thresholds - tps
    if tps[-1] == 0:
        raise ConfigError("the precision-recall curve needs at least one positive in y_true")
    precision, recall = tps / (tps + fps), tps / tps[-1]
    # Stop where full recall is first reached, then add the (recall 0, precision 1) end.
    last = int(np.searchsorted(tps, tps[-1]))
    precision = np.r_[precision[last::-1], 1.0]
    recall = np.r_[recall[last::-1], 0.0]
    return float(abs(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2.0)))


def binary_counts(y_true: Array, y_label: Array) -> tuple[float, float, float]:
    """True positives, false positives and false negatives of class 1."""
    y_true, y_label = y_true.reshape(-1), y_label.reshape(-1)
    tp = float(np.sum((y_label == 1) & (y_true == 1)))
    fp = float(np.sum((y_label == 1) & (y_true != 1)))
    fn = float(np.sum((y_label != 1) & (y_true == 1)))
    return tp, fp, fn
