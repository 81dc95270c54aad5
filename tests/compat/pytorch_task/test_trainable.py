"""The training meta-algorithm on the engine: the template order, overrides at any depth."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.compat.pytorch_task._tiny import PointsTask, make_batches
from unitrain.errors import ConfigError, StateError


class Traced(PointsTask):
    """Every template method logs its name, then does what the seed does (super)."""

    def __init__(self, log: list[str], **options: Any) -> None:
        super().__init__(**options)
        self.log = log

    def prepare_train(self, sample: Any) -> Any:
        self.log.append(f"prepare_train {self.epoch_i}.{self.iter_i}")
        return super().prepare_train(sample)

    def forward_train(self, sample: Any) -> Any:
        self.log.append("forward_train")
        return super().forward_train(sample)

    def backward(self, output: Any, sample: Any) -> dict[str, Any]:
        self.log.append("backward")
        return super().backward(output, sample)

    def epoch(self, dataset: Any) -> None:
        self.log.append("epoch")
        super().epoch(dataset)
        self.every_n_epochs(1, self.validate, skip_zero=False)

    def test_on(self, dataset: Any, snapshot: Any = None) -> Any:
        self.log.append("test_on")
        return super().test_on(dataset, snapshot)

    def single_test(self, sample: Any) -> Any:
        self.log.append("single_test")
        return super().single_test(sample)

    def log_validation(self, metrics: dict[str, Any]) -> None:
        self.log.append(f"log_validation {self.epoch_i}")
        super().log_validation(metrics)

    def save_model(self, filename: str) -> None:
        self.log.append(f"save_model {filename}")
        super().save_model(filename)


class Events:
    """A native plugin logging into the same list."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def on_fit_start(self, state: ut.State) -> None:
        self.log.append("fit_start")

    def on_epoch_start(self, state: ut.State) -> None:
        self.log.append(f"epoch_start {state.epoch}")

    def on_train_step_start(self, state: ut.State) -> None:
        self.log.append("train_step_start")

    def on_before_optimizer_step(self, state: ut.State) -> None:
        self.log.append("before_optimizer_step")

    def on_train_step_end(self, state: ut.State) -> None:
        self.log.append("train_step_end")

    def on_eval_start(self, state: ut.State, split: str) -> None:
        self.log.append(f"eval_start {split}")

    def on_eval_end(self, state: ut.State, split: str, metrics: dict[str, float]) -> None:
        self.log.append(f"eval_end {split} {sorted(metrics)}")

    def on_epoch_end(self, state: ut.State) -> None:
        self.log.append(f"epoch_end {state.epoch}")

    def on_fit_end(self, state: ut.State) -> None:
        self.log.append("fit_end")


def test_golden_template_order_with_plugin_events_around_the_steps() -> None:
    log: list[str] = []
    task = Traced(log, epochs=2, batches=make_batches(count=2))
    task.plugins = [Events(log)]
    task.train()
    expected = ["fit_start"]
    for e in (0, 1):
        expected.append(f"epoch_start {e}")
        for i in (0, 1):
            expected += [
                "train_step_start",
                f"prepare_train {e}.{i}",
                "forward_train",
                "backward",
                "before_optimizer_step",
                "train_step_end",
            ]
        expected += [
            "epoch",  # the task's on_epoch_end runs first (registered first)
            "test_on",
            "eval_start val",
            "single_test",
            "single_test",
            "eval_end val ['loss']",
            f"log_validation {e}",
            f"epoch_end {e}",
        ]
    expected += ["fit_end", "save_model final.pt"]
    assert log == expected
    assert task.snapshot.train_data["epoch_i"] == [0, 1]
    assert task.snapshot.val_data["epoch_i"] == [0, 1]
    assert (task.epoch_i, task.iter_i) == (1, 1)  # the seed's values after train()


def _seed_loop(task: PointsTask) -> nn.Module:
    """The seed's train(), written out."""
    model = task.model
    criterion, optimizer = task.get_criterion(), task.get_optimizer()
    for _ in range(task.epochs or 0):
        for data, label in task.get_training_data():
            model.train()
            optimizer.zero_grad()
            loss = criterion(model(data), label)
            loss.backward()
            optimizer.step()
    return model


def test_weights_equal_the_seed_loop_bit_for_bit() -> None:
    task = PointsTask(seed=1, epochs=3)
    task.train()
    reference = _seed_loop(PointsTask(seed=1, epochs=3))
    for got, want in zip(task.model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)


def test_an_overridden_iteration_runs_as_the_whole_step_with_super() -> None:
    calls: list[str] = []

    class Counting(PointsTask):
        def iteration(self, sample: Any) -> dict[str, Any]:
            calls.append(f"before {self.iter_i}")
            values = super().iteration(sample)
            calls.append("after")
            return {**values, "doubled": values["loss"] * 2}

    task = Counting(seed=1, epochs=3)
    task.train()
    assert calls[:3] == ["before 0", "after", "before 1"] and len(calls) == 24
    reference = _seed_loop(PointsTask(seed=1, epochs=3))
    for got, want in zip(task.model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)  # its own optimizer step, not a second one
    train_data = task.snapshot.train_data
    assert train_data["doubled"] == pytest.approx([2 * v for v in train_data["loss"]])


def test_a_full_rewrite_of_backward_with_two_losses() -> None:
    class TwoLosses(PointsTask):
        def backward(self, output: Any, sample: Any) -> dict[str, Any]:
            _, label = sample
            ce = self.criterion(output, label)
            l2 = output.pow(2).mean()
            (ce + 0.1 * l2).backward()
            return {"ce": ce.item(), "l2": l2.item()}

    task = TwoLosses()
    task.train()
    assert sorted(task.snapshot.train_data) == ["ce", "epoch_i", "l2"]


def test_an_epoch_that_iterates_the_data_itself_is_refused_clearly() -> None:
    class OwnLoop(PointsTask):
        def epoch(self, dataset: Any) -> None:
            for sample in dataset:
                self.iteration(sample)

    with pytest.raises(StateError, match="engine runs each epoch's iterations"):
        OwnLoop().train()


def test_epoch_outside_a_fit_and_missing_epochs_are_refused() -> None:
    with pytest.raises(StateError, match="inside a fit"):
        PointsTask().epoch(make_batches())
    task = PointsTask()
    task.epochs = None
    with pytest.raises(ConfigError, match="epochs is None"):
        task.train()


def test_accumulation_is_refused_because_backward_steps_itself() -> None:
    task = PointsTask()
    with pytest.raises(ConfigError, match="accumulation=2"):
        ut.Trainer(task, max_epochs=1, accumulation=2, device="cpu").fit(make_batches())


def test_every_n_epochs_follows_the_seed() -> None:
    calls: list[int] = []

    class Every(PointsTask):
        def epoch(self, dataset: Any) -> None:
            super().epoch(dataset)
            self.every_n_epochs(2, lambda task: calls.append(task.epoch_i))

    Every(epochs=5).train()
    assert calls == [2, 4]  # epoch 0 skipped (skip_zero)


def test_training_lowers_the_loss_and_raises_accuracy() -> None:
    task = PointsTask(epochs=8, lr=0.5, batches=make_batches(count=8))
    before = task.test_on(task.get_testing_data())
    task.train()
    after = task.test_on(task.get_testing_data())
    assert before is not None and after is not None
    losses = task.snapshot.train_data["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert after["loss"] > max(before["loss"], 0.85)  # the metric is accuracy
