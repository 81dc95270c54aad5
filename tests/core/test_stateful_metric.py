"""torchmetrics (any update / compute / reset metric) in Task(metrics=...): dataset values."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score
from torch import nn

import unitrain as ut
from tests._extras import require
from unitrain.core.stateful_metric import StatefulMetric, is_stateful_metric

torchmetrics = require("torchmetrics")

SAMPLES, BATCH = 60, 8  # 7 full batches and one of 4: batch means are not the dataset's


def _data() -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(SAMPLES, 5, generator=generator)
    targets = (inputs[:, 0] + 0.8 * torch.randn(SAMPLES, generator=generator) > 0).long()
    batches = [(inputs[i : i + BATCH], targets[i : i + BATCH]) for i in range(0, SAMPLES, BATCH)]
    return batches, inputs, targets


def _model() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Linear(5, 2)


def test_f1_confusion_matrix_and_auroc_are_the_datasets() -> None:
    batches, inputs, targets = _data()
    model = _model()
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={
            "accuracy": ut.accuracy,
            "f1": torchmetrics.F1Score(task="multiclass", num_classes=2, average="macro"),
            "confmat": torchmetrics.ConfusionMatrix(task="multiclass", num_classes=2),
            "auroc": torchmetrics.AUROC(task="multiclass", num_classes=2),
        },
    )
    metrics = ut.Trainer(task, max_epochs=1, device="cpu").evaluate(batches, split="val")
    with torch.no_grad():
        scores = model(inputs)
    predicted = scores.argmax(dim=1)
    expected_f1 = f1_score(targets, predicted, average="macro")
    assert metrics["f1"] == pytest.approx(expected_f1, abs=1e-6)
    matrix = confusion_matrix(targets, predicted)
    assert {k: v for k, v in metrics.items() if k.startswith("confmat/")} == {
        f"confmat/{i}/{j}": float(matrix[i, j]) for i in range(2) for j in range(2)
    }
    auroc = roc_auc_score(targets, scores.softmax(dim=1)[:, 1])
    assert metrics["auroc"] == pytest.approx(auroc, abs=1e-6)
    batch_means = [
        f1_score(t, model(x).argmax(dim=1), average="macro") for x, t in batches
    ]  # what averaging per-batch calls reported before: not the dataset's F1
    assert abs(sum(batch_means) / len(batch_means) - expected_f1) > 1e-3


def test_state_is_reset_between_evaluations() -> None:
    batches, _, _ = _data()
    f1 = torchmetrics.F1Score(task="multiclass", num_classes=2)
    task = ut.Task(_model(), loss=nn.CrossEntropyLoss(), metrics={"f1": f1})
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    first = trainer.evaluate(batches, split="val")["f1"]
    assert trainer.evaluate(batches[:2], split="val")["f1"] != first
    assert trainer.evaluate(batches, split="val")["f1"] == first


def test_a_fit_reports_it_per_evaluation_not_per_batch() -> None:
    batches, _, _ = _data()
    task = ut.Task(
        _model(),
        loss=nn.CrossEntropyLoss(),
        metrics={"f1": torchmetrics.F1Score(task="multiclass", num_classes=2)},
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
    )
    trainer = ut.Trainer(task, max_epochs=2, device="cpu")
    trainer.fit(batches, eval_data={"val": batches})
    assert "f1" in trainer.state.eval_metrics["val"]
    assert "f1" not in task.metrics and isinstance(task.dataset_metrics["f1"], StatefulMetric)


def test_only_objects_with_all_three_methods_are_stateful() -> None:
    assert is_stateful_metric(torchmetrics.Accuracy(task="binary"))
    assert not is_stateful_metric(ut.accuracy)

    class Partial:
        def update(self) -> None: ...
        def compute(self) -> None: ...

    assert not is_stateful_metric(Partial())
