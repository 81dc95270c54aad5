"""Result packages against scikit-learn's reference metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unitrain.compat.aitoolbox import (
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    GeneralResultPackage,
    RegressionResultPackage,
)
from unitrain.errors import ConfigError

metrics = pytest.importorskip("sklearn.metrics")


def test_classification_package_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 50)
    logits = torch.tensor(rng.normal(size=(50, 3)))
    results = ClassificationResultPackage().prepare_result_package(torch.tensor(y_true), logits)
    y_pred = logits.argmax(1).numpy()
    assert results["Accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert results["F1_score"] == pytest.approx(metrics.f1_score(y_true, y_pred, average="macro"))
    assert results["Precision"] == pytest.approx(
        metrics.precision_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert results["Recall"] == pytest.approx(metrics.recall_score(y_true, y_pred, average="macro"))


def test_binary_package_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60), 1)  # ties on purpose
    results = BinaryClassificationResultPackage().prepare_result_package(y_true, scores)
    y_pred = (scores >= 0.5).astype(int)
    assert results["ROC_AUC"] == pytest.approx(metrics.roc_auc_score(y_true, scores))
    assert results["PrecisionRecall_AUC"] == pytest.approx(
        metrics.average_precision_score(y_true, scores)
    )
    assert results["F1_score"] == pytest.approx(metrics.f1_score(y_true, y_pred))
    assert results["Accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))


def test_regression_general_and_combined_packages() -> None:
    y_true, y_pred = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    combined = RegressionResultPackage() + GeneralResultPackage(
        {"max": lambda t, p: float(np.max(p))}
    )
    results = combined.prepare_result_package(y_true, y_pred)
    assert results["Mean_squared_error"] == pytest.approx(
        metrics.mean_squared_error(y_true, y_pred)
    )
    assert results["Mean_absolute_error"] == pytest.approx(
        metrics.mean_absolute_error(y_true, y_pred)
    )
    assert results["max"] == 2.0 and combined.get_results() is results
    with pytest.raises(ConfigError, match="same samples"):
        RegressionResultPackage().prepare_result_package(y_true, y_pred[:2])
