"""Core metrics: aitoolbox's metric object API, and numbers equal to scikit-learn's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unitrain.compat.aitoolbox.experiment.core_metrics.abstract_metric import AbstractBaseMetric
from unitrain.compat.aitoolbox.experiment.core_metrics.classification import (
    AccuracyMetric,
    F1ScoreMetric,
    PrecisionMetric,
    PrecisionRecallCurveAUCMetric,
    RecallMetric,
    ROCAUCMetric,
)
from unitrain.compat.aitoolbox.experiment.core_metrics.regression import (
    MeanAbsoluteErrorMetric,
    MeanSquaredErrorMetric,
)
from unitrain.errors import ConfigError, ConfigTypeError

sk = pytest.importorskip("sklearn.metrics")


class Fixed(AbstractBaseMetric):
    """A metric whose result is whatever y_true was."""

    def __init__(self, value: Any) -> None:
        super().__init__(value, None, "fixed", np_array=False)

    def calculate_metric(self) -> Any:
        return self.y_true


def test_metric_object_api() -> None:
    ten, twelve = Fixed(10), Fixed(12.0)
    assert ten.get_metric() == 10 and ten.get_metric_dict() == {"fixed": 10}
    assert str(ten) == "fixed: 10" and len(ten) == 1 and len(Fixed(None)) == 0
    assert ten < twelve and ten <= 10 and twelve > ten and 11 < twelve and not 10 > ten
    assert "fixed" in ten and ten["fixed"] == 10 and "other" not in ten
    nested = Fixed({"a": 1, "b": 2})
    assert "a" in nested and nested["b"] == 2 and len(nested) == 2
    with pytest.raises(KeyError, match="other"):
        nested["other"]
    with pytest.raises(ConfigError, match="int or float"):
        _ = nested > 3
    with pytest.raises(ConfigError, match="int or float"):
        _ = ten < Fixed([1, 2])
    with pytest.raises(ConfigTypeError, match="len"):
        len(Fixed("text"))


def test_metrics_add_into_one_dict() -> None:
    assert Fixed(1) + {"x": 2} == {"fixed": 1, "x": 2}
    assert {"x": 2} + Fixed(1) == {"fixed": 1, "x": 2}
    mse = MeanSquaredErrorMetric([1.0], [2.0])
    assert mse + MeanAbsoluteErrorMetric([1.0], [3.0]) == {
        "Mean_squared_error": 1.0,
        "Mean_absolute_error": 2.0,
    }
    with pytest.raises(ConfigTypeError, match="metric or a dict"):
        mse + 3


def test_accuracy_thresholds_probabilities_and_argmaxes_scores(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert AccuracyMetric([1, 0, 1], [0.9, 0.4, 0.2]).get_metric() == pytest.approx(2 / 3)
    assert AccuracyMetric([1, 0], [[0.1, 0.9], [0.3, 0.7]]).get_metric() == 0.5
    assert AccuracyMetric([[0, 1], [1, 0]], [[0.1, 0.9], [0.3, 0.7]]).get_metric() == 0.5
    column = np.array([2, 1, 0, 2]).reshape(-1, 1)
    assert AccuracyMetric(column, column, positive_class_thresh=None).get_metric() == 1.0
    # Scores outside [0, 1] are not probabilities: compared as labels, with a note.
    assert AccuracyMetric([2, 1], [2, 3]).get_metric() == 0.5
    assert "not probabilities" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="shape"):
        AccuracyMetric([1, 0, 1], [[0, 1], [1, 0], [0, 1], [1, 0]], positive_class_thresh=None)


labels_and_scores = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
        # Few distinct values, so ties are common.
        st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(labels_and_scores)
def test_binary_metrics_equal_sklearn(data: tuple[list[int], list[float]]) -> None:
    y_true, scores = np.array(data[0]), np.array(data[1])
    precision, recall, _ = sk.precision_recall_curve(y_true, scores)
    assert ROCAUCMetric(y_true, scores).get_metric() == pytest.approx(
        sk.roc_auc_score(y_true, scores)
    )
    assert PrecisionRecallCurveAUCMetric(y_true, scores).get_metric() == pytest.approx(
        sk.auc(recall, precision)
    )
    labels = (scores > 0.5).astype(int)
    assert F1ScoreMetric(y_true, scores).get_metric() == pytest.approx(
        sk.f1_score(y_true, labels, zero_division=0)
    )
    assert PrecisionMetric(y_true, scores).get_metric() == pytest.approx(
        sk.precision_score(y_true, labels, zero_division=0)
    )
    assert RecallMetric(y_true, scores).get_metric() == pytest.approx(
        sk.recall_score(y_true, labels)
    )
    assert AccuracyMetric(y_true, scores).get_metric() == pytest.approx(
        sk.accuracy_score(y_true, scores >= 0.5)
    )


@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=30))
def test_regression_metrics_equal_sklearn(pairs: list[tuple[float, float]]) -> None:
    y_true, y_pred = np.array(pairs).T
    assert MeanSquaredErrorMetric(y_true, y_pred).get_metric() == pytest.approx(
        sk.mean_squared_error(y_true, y_pred)
    )
    assert MeanAbsoluteErrorMetric(y_true, y_pred).get_metric() == pytest.approx(
        sk.mean_absolute_error(y_true, y_pred)
    )


def test_undefined_metrics_say_why() -> None:
    with pytest.raises(ConfigError, match="only one class"):
        ROCAUCMetric([1, 1], [0.2, 0.8])
    with pytest.raises(ConfigError, match="at least one positive"):
        PrecisionRecallCurveAUCMetric([0, 0], [0.2, 0.8])
    with pytest.raises(ConfigError, match="same samples"):
        MeanSquaredErrorMetric([1.0, 2.0], [1.0])
