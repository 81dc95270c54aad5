"""ModelPerformanceEvaluation and ModelPerformancePrintReport on a real run."""

from __future__ import annotations

import pytest

from tests.compat.aitoolbox._tiny import make_batches, make_loop
from unitrain.compat.aitoolbox import (
    ClassificationResultPackage,
    ModelPerformanceEvaluation,
    ModelPerformancePrintReport,
)
from unitrain.errors import ConfigError


def test_evaluation_writes_metrics_into_the_history(capsys: pytest.CaptureFixture[str]) -> None:
    evaluation = ModelPerformanceEvaluation(
        ClassificationResultPackage(), {"lr": 0.1}, on_train_data=True, on_val_data=True
    )
    report = ModelPerformancePrintReport(["val_Accuracy", "train_Accuracy"])
    loop = make_loop(test=make_batches(1, seed=4))
    loop.fit(num_epochs=2, callbacks=[report, evaluation])
    history = loop.train_history
    assert len(history["val_Accuracy"]) == 2 and len(history["train_Accuracy"]) == 2
    y_pred, y_true, _ = loop.predict_on_validation_set(force_prediction=True)
    assert history["val_Accuracy"][-1] == pytest.approx(float((y_pred == y_true).float().mean()))
    assert len(history["train_end_test_Accuracy"]) == 1
    out = capsys.readouterr().out
    assert out.count("Performance report at epoch") == 2 and "val_Accuracy" in out
    assert report.last_report["val_Accuracy"] == history["val_Accuracy"][-1]


def test_eval_frequency_and_validation() -> None:
    evaluation = ModelPerformanceEvaluation(ClassificationResultPackage(), eval_frequency=2)
    loop = make_loop()
    loop.fit(num_epochs=3, callbacks=[evaluation])
    assert len(loop.train_history["val_Accuracy"]) == 2  # epochs 0 and 2
    with pytest.raises(ConfigError, match="no validation_loader"):
        make_loop(val=None).fit(
            num_epochs=1, callbacks=[ModelPerformanceEvaluation(ClassificationResultPackage())]
        )
    with pytest.raises(ConfigError, match="result package"):
        ModelPerformanceEvaluation("accuracy")  # type: ignore[arg-type]


def test_strict_report_names_the_missing_metric() -> None:
    with pytest.raises(ConfigError, match="'val_F1' is not in train_history"):
        make_loop().fit(num_epochs=1, callbacks=[ModelPerformancePrintReport(["val_F1"])])
    lenient = ModelPerformancePrintReport(["val_F1", "val_loss"], strict_metric_reporting=False)
    make_loop().fit(num_epochs=1, callbacks=[lenient])
    assert list(lenient.last_report) == ["val_loss"]
