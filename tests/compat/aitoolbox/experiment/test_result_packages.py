"""Result packages: preparing, combining (+, +=), printing and checking, as aitoolbox."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from unitrain.compat.aitoolbox import result_packages as flat
from unitrain.compat.aitoolbox.experiment import ClassificationResultPackage as TopLevel
from unitrain.compat.aitoolbox.experiment.core_metrics.classification import AccuracyMetric
from unitrain.compat.aitoolbox.experiment.core_metrics.regression import MeanSquaredErrorMetric
from unitrain.compat.aitoolbox.experiment.result_package.abstract_result_packages import (
    AbstractResultPackage,
    MultipleResultPackageWrapper,
    PreCalculatedResultPackage,
)
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    BinaryClassificationResultPackage,
    ClassificationResultPackage,
    GeneralResultPackage,
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.result_package.torch_metrics_packages import (
    TorchMetricsPackage,
)
from unitrain.errors import ConfigError

sk = pytest.importorskip("sklearn.metrics")


class Fixed(AbstractResultPackage):
    """Returns the results it was built with; may list extra files."""

    def __init__(self, results: dict[str, Any], name: str | None = "Fixed", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.fixed = results
        self.extra: Any = None

    def prepare_results_dict(self) -> dict[str, Any]:
        return dict(self.fixed)

    def list_additional_results_dump_paths(self) -> Any:
        return self.extra


def prepared(results: dict[str, Any], name: str | None = "Fixed", hyper: Any = None) -> Fixed:
    package = Fixed(results, name)
    package.prepare_result_package([1, 2], [1, 3], hyper if hyper is not None else {"h": 1})
    return package


def test_flat_and_package_paths_are_the_same_classes() -> None:
    assert flat.ClassificationResultPackage is ClassificationResultPackage is TopLevel
    assert flat.MultipleResultPackageWrapper is MultipleResultPackageWrapper


def test_prepare_converts_to_numpy_and_returns_the_results() -> None:
    package = Fixed({"m": 1.0})
    results = package.prepare_result_package(
        torch.tensor([1.0], requires_grad=True), [2.0], None, extra=3
    )
    assert results == {"m": 1.0} and package.get_results() is package.results_dict
    assert isinstance(package.y_true, np.ndarray) and package.additional_results == {"extra": 3}
    kept = Fixed({}, np_array=False)
    kept.prepare_result_package([[1], [2, 3]], "as given")
    assert kept.y_true == [[1], [2, 3]] and kept.y_predicted == "as given"
    auto = Fixed({}, np_array="auto")
    auto.prepare_result_package([[1, 2], [3, 4]], [[1], [2, 3]])
    assert isinstance(auto.y_true, np.ndarray) and isinstance(auto.y_predicted, list)


def test_before_preparing(capsys: pytest.CaptureFixture[str]) -> None:
    package = Fixed({"m": 1})
    assert package.get_results() is None
    assert "results missing" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="prepare_result_package"):
        Fixed({}, strict_content_check=True).get_results()
    for use in (str, len, lambda p: "m" in p, lambda p: p["m"], lambda p: p + {"x": 1}):
        with pytest.raises(ConfigError, match="no results yet"):
            use(package)
    with pytest.raises(ConfigError, match="no results yet"):
        prepared({"m": 1}) + package


def test_printing_length_lookup() -> None:
    package = prepared({"a": 1.5, "b": 2})
    assert str(package) == "a: 1.5\nb: 2" and len(package) == 2
    assert "a" in package and "c" not in package and package["b"] == 2
    with pytest.raises(KeyError, match="'c'"):
        package["c"]


def test_plus_wraps_copies_and_suffixes_repeated_names() -> None:
    first, second = prepared({"a": 1}, hyper={"lr": 0.1}), prepared({"a": 2})
    combined = first + second + {"c": 3} + prepared({"d": 4}, name=None)
    assert isinstance(combined, MultipleResultPackageWrapper)
    assert combined.get_results() == {
        "Fixed": {"a": 1},
        "Fixed1": {"a": 2},
        "PreCalculatedResult": {"c": 3},
        "ResultPackage3": {"d": 4},
    }
    assert len(combined) == 4 and combined.hyperparameters == {"lr": 0.1}
    assert combined.result_packages is not None
    assert all(p is not first and p is not second for p in combined.result_packages)
    assert isinstance(combined.result_packages[2], PreCalculatedResultPackage)
    assert combined.y_true["Fixed1"].tolist() == [1, 2]
    assert str(first + second) == "--> Fixed:\na: 1\n--> Fixed:\na: 2"
    from_dict = {"c": 3} + first
    assert list(from_dict.get_results() or {}) == ["Fixed", "PreCalculatedResult"]


def test_plus_equals_merges_results_and_refuses_clashes() -> None:
    package = prepared({"a": 1})
    package += prepared({"b": 2})
    package += {"c": 3}
    assert package.results_dict == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(ConfigError, match=r"already has the metrics \['a'\]"):
        package += {"a": 5}
    for bad in ([1], 3):
        with pytest.raises(ConfigError, match="result packages"):
            package += bad
        with pytest.raises(ConfigError, match="result packages"):
            package + bad
    wrapper = first_two = prepared({"a": 1}) + prepared({"b": 2})
    wrapper += prepared({"b": 3}) + {"z": 0}
    assert list(wrapper.get_results() or {}) == ["Fixed", "Fixed1", "Fixed2", "PreCalculatedResult"]
    assert first_two is wrapper


def test_hyperparameter_and_dump_path_checks(capsys: pytest.CaptureFixture[str]) -> None:
    package = prepared({}, hyper={"bash_script_path": "run.sh", "experiment_file_path": "x.py"})
    assert package.get_hyperparameters() == {
        "bash_script_path": "run.sh",
        "experiment_file_path": "x.py",
    }
    assert capsys.readouterr().out == ""
    prepared({}, hyper={}).get_hyperparameters()
    assert "bash_script_path missing" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="hyperparameters missing"):
        Fixed({}, strict_content_check=True).qa_check_hyperparameters_dict()
    package.extra = [["a.txt", "/tmp/a.txt"]]
    assert package.get_additional_results_dump_paths() == [["a.txt", "/tmp/a.txt"]]
    for bad in ("a.txt", ["a.txt"], [["a.txt"]], [["a.txt", 3]], [["a", "b"], "c"]):
        package.extra = bad
        with pytest.raises(ConfigError, match="file name, local path"):
            package.get_additional_results_dump_paths()


def test_wrapper_collects_every_packages_dump_paths() -> None:
    first, second = prepared({"a": 1}), prepared({"b": 2})
    second.extra = [["b.txt", "/r/b.txt"]]
    assert (first + first).get_additional_results_dump_paths() is None
    assert (first + second).get_additional_results_dump_paths() == [["b.txt", "/r/b.txt"]]


def test_basic_packages_compute_aitoolboxs_metric_sets() -> None:
    rng = np.random.default_rng(0)
    y_true, scores = rng.integers(0, 2, 40), rng.random(40)
    binary = BinaryClassificationResultPackage().prepare_result_package(y_true, scores)
    assert binary == {
        "Accuracy": pytest.approx(sk.accuracy_score(y_true, scores >= 0.5)),
        "ROC_AUC": pytest.approx(sk.roc_auc_score(y_true, scores)),
        "PrecisionRecall_AUC": pytest.approx(
            sk.auc(*sk.precision_recall_curve(y_true, scores)[1::-1])
        ),
        "F1_score": pytest.approx(sk.f1_score(y_true, scores > 0.5)),
    }
    logits = torch.tensor(rng.normal(size=(40, 3)))
    classes = rng.integers(0, 3, 40)
    multi = ClassificationResultPackage().prepare_result_package(classes, logits)
    assert multi == {
        "Accuracy": pytest.approx(sk.accuracy_score(classes, logits.argmax(1).numpy()))
    }
    regression = RegressionResultPackage().prepare_result_package([1.0, 2.0], [1.5, 2.0])
    assert regression == {"Mean_squared_error": 0.125, "Mean_absolute_error": 0.25}


def test_general_package_takes_metric_classes_or_functions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    by_class = GeneralResultPackage([AccuracyMetric, MeanSquaredErrorMetric])
    assert by_class.prepare_result_package([1, 0], [1, 1], {}) == {
        "Accuracy": 0.5,
        "Mean_squared_error": 0.5,
    }
    by_name = GeneralResultPackage({"max": lambda t, p: float(np.max(p))})
    assert by_name.prepare_result_package([1], [4], {}) == {"max": 4.0}
    GeneralResultPackage([]).qa_check_metrics_list()
    GeneralResultPackage([len]).qa_check_metrics_list()  # type: ignore[list-item]
    out = capsys.readouterr().out
    assert "metrics list is empty" in out and "not an AbstractBaseMetric" in out


def test_torchmetrics_package_with_real_torchmetrics() -> None:
    torchmetrics = pytest.importorskip("torchmetrics")
    predictions, targets = torch.tensor([0.9, 0.2, 0.7, 0.4]), torch.tensor([1, 0, 0, 0])
    single = TorchMetricsPackage(torchmetrics.classification.BinaryAccuracy())
    assert single.prepare_result_package(targets, predictions) == {
        "BinaryAccuracy_PTLMetrics": 0.75
    }
    collection = torchmetrics.MetricCollection(
        {
            "acc": torchmetrics.classification.BinaryAccuracy(),
            "rec": torchmetrics.classification.BinaryRecall(),
        }
    )
    package = TorchMetricsPackage(collection)
    results = package.prepare_result_package(targets, predictions)
    assert {k: float(v) for k, v in (results or {}).items()} == {
        "acc_PTLMetrics": 0.75,
        "rec_PTLMetrics": 1.0,
    }
    package.prepare_result_package(torch.tensor([1]), torch.tensor([0.1]))
    assert float(package.metric_compute()["acc"]) == pytest.approx(0.6)  # 3 of 5 seen
    package.metric_reset()
    assert copy.deepcopy(package).pkg_name == "Torch Metrics"
