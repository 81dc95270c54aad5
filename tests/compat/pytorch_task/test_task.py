"""PytorchTask as a task plugin: model files, and one fit mixing every style."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import unitrain as ut
from tests.compat.pytorch_task._tiny import PointsTask, make_batches
from unitrain.compat import t3w
from unitrain.errors import PluginError


def test_save_and_load_model_by_name_and_last() -> None:
    task = PointsTask()
    task.save_model("a.pt")
    saved = [p.detach().clone() for p in task.model.parameters()]
    with torch.no_grad():
        for parameter in task.model.parameters():
            parameter.add_(1.0)
    task.save_model("b.pt")
    task.load_model("a.pt")
    assert all(torch.equal(p, s) for p, s in zip(task.model.parameters(), saved, strict=True))
    task.load_model()  # the last registered file, b.pt
    assert not torch.equal(next(task.model.parameters()), saved[0])
    with pytest.raises(RuntimeError, match=r"no model file 'c\.pt'"):
        task.load_model("c.pt")
    with pytest.raises(RuntimeError, match="no saved model files"):
        PointsTask().load_model()
    with pytest.raises(NotImplementedError):
        task.server()


def test_a_subclass_helper_named_like_a_hook_is_refused_with_the_fix() -> None:
    class Helper(PointsTask):
        def make_model(self) -> None:
            pass

    with pytest.raises(PluginError, match="not_a_hook"):
        ut.Trainer(Helper(), max_epochs=1, device="cpu")


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []


class T3wWatch(t3w.ISideEffect):
    def __init__(self, log: _Log) -> None:
        self.log = log

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        self.log.lines.append(f"t3w step {step} {sorted(step_return['metrics'])}")

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        self.log.lines.append(f"t3w epoch {epoch} {loop.progress.epoch}")


class NativeFirst:
    order = -1  # the one ordering rule: before order-0 plugins whatever their style

    def __init__(self, log: _Log) -> None:
        self.log = log

    def on_train_step_end(self, state: ut.State) -> None:
        self.log.lines.append(f"native step {state.batch_idx}")

    def on_epoch_end(self, state: ut.State) -> None:
        self.log.lines.append(f"native epoch {state.epoch}")


class Recording(PointsTask):
    def __init__(self, log: _Log) -> None:
        super().__init__(epochs=1, batches=make_batches(count=2))
        self.log = log

    def epoch(self, dataset: Any) -> None:
        super().epoch(dataset)
        self.log.lines.append(f"task epoch {self.epoch_i}")


def test_one_fit_with_a_pytorch_task_a_t3w_side_effect_and_a_native_plugin() -> None:
    log = _Log()
    task = Recording(log)
    task.criterion, task.optimizer = task.get_criterion(), task.get_optimizer()
    trainer = ut.Trainer(task, plugins=[T3wWatch(log), NativeFirst(log)], max_epochs=1)
    trainer.fit(task.get_training_data())
    assert log.lines == [
        "native step 0",
        "t3w step 0 ['loss']",
        "native step 1",
        "t3w step 1 ['loss']",
        "native epoch 0",  # order -1 first
        "task epoch 0",  # the task registered first, order 0
        "t3w epoch 0 0",
    ]
    assert trainer.plugins.names[:2] == ["native_first", "task"]
    assert task.snapshot.train_data["epoch_i"] == [0]
