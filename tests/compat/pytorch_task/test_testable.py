"""Testing and validation as engine evaluation passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import unitrain as ut
from tests.compat.pytorch_task._tiny import PointsTask, accuracy, make_batches


def test_test_on_returns_the_seed_average_over_batches() -> None:
    task = PointsTask()
    data = make_batches(count=3, seed=4)
    result = task.test_on(data)
    with torch.no_grad():
        expected = sum(accuracy(task.model(x), y).item() for x, y in data) / 3
    assert result == {"loss": pytest.approx(expected)}
    assert task.model.training is False  # test_on leaves eval mode, as the seed did


def test_test_loads_the_last_model_and_stores_results_with_raw_data() -> None:
    task = PointsTask(epochs=1)
    task.train()
    trained = [p.detach().clone() for p in task.model.parameters()]
    with torch.no_grad():
        for parameter in task.model.parameters():
            parameter.zero_()
    task.test()
    for got, want in zip(task.model.parameters(), trained, strict=True):
        assert torch.equal(got, want)  # test() loaded final.pt
    assert set(task.snapshot.test_data) == {"loss", "loss_data"}
    assert len(task.snapshot.test_data["loss_data"]) == 2


def test_an_overridden_single_test_and_evaluate_metrics_are_used() -> None:
    class Two(PointsTask):
        def evaluate_metrics(self, output: Any, sample: Any) -> dict[str, Any]:
            _, label = sample
            return {"accuracy": accuracy(output, label).item(), "size": float(len(label))}

    result = Two().test_on(make_batches(count=2))
    assert result is not None and result["size"] == 8.0 and 0.0 <= result["accuracy"] <= 1.0


def test_validation_inside_a_fit_is_a_pass_every_plugin_sees() -> None:
    seen: list[tuple[str, int, str]] = []

    class Watch:
        def on_eval_end(self, state: ut.State, split: str, metrics: dict[str, float]) -> None:
            seen.append((state.phase, state.epoch, split))

        def on_epoch_end(self, state: ut.State) -> None:
            assert state.eval_metrics["val"]["loss"] >= 0.0  # fresh from validate()

    class Validating(PointsTask):
        def epoch(self, dataset: Any) -> None:
            super().epoch(dataset)
            self.validate()

    task = Validating(epochs=2)
    trainer = task.make_trainer(plugins=[Watch()])
    task.criterion, task.optimizer = task.get_criterion(), task.get_optimizer()
    trainer.fit(task.get_training_data())
    assert seen == [("eval", 0, "val"), ("eval", 1, "val")]
    assert task.snapshot.val_data["epoch_i"] == [0, 1]
    assert task.model.training is False  # the seed left eval mode after validate


def test_a_plain_trainer_evaluation_uses_single_test() -> None:
    task = PointsTask()
    metrics = ut.Trainer(task, max_epochs=1, device="cpu").evaluate(make_batches(count=2))
    assert set(metrics) == {"loss"} and 0.0 <= metrics["loss"] <= 1.0


def test_a_fit_with_engine_evaluations_uses_single_test_each_epoch() -> None:
    task = PointsTask(epochs=2)
    task.criterion, task.optimizer = task.get_criterion(), task.get_optimizer()
    trainer = ut.Trainer(task, max_epochs=2, device="cpu")
    state = trainer.fit(task.get_training_data(), eval_data={"val": make_batches(count=2)})
    assert 0.0 <= state.eval_metrics["val"]["loss"] <= 1.0
    assert task._eval_logger is None  # each engine pass's own logger is dropped at its end
