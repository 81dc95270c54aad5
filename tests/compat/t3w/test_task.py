"""The t3w task's stage semantics: scheduler per epoch, a step without loss, progress."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.compat.t3w._tiny import Classifier, CrossEntropy, PointSet
from unitrain.compat import t3w


def test_the_scheduler_steps_once_per_epoch_before_epoch_finished() -> None:
    seen: list[float] = []

    class Rate(t3w.ISideEffect):
        def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
            seen.append(loop.model.optim.param_groups[0]["lr"])

    model = Classifier()
    optim = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optim, step_size=1, gamma=0.5)
    module = t3w.TopLevelModule(model, optim, scheduler)
    t3w.TrainLoop(
        PointSet(size=8), module, losses={"ce": CrossEntropy()}, epochs=3, side_effects=[Rate()]
    )()
    assert seen == pytest.approx([0.5, 0.25, 0.125])


def test_a_step_without_losses_or_regularizer_skips_backward() -> None:
    model = Classifier()
    before = model.linear.weight.detach().clone()
    module = t3w.TopLevelModule(model, torch.optim.SGD(model.parameters(), lr=1.0))
    t3w.TrainLoop(PointSet(size=8), module, epochs=1)()
    assert torch.equal(model.linear.weight, before)


def test_a_regularizer_alone_trains() -> None:
    model = Classifier(regularize=True)
    before = model.linear.weight.detach().abs().sum()
    module = t3w.TopLevelModule(model, torch.optim.SGD(model.parameters(), lr=0.1))
    t3w.TrainLoop(PointSet(size=8), module, epochs=2)()
    assert model.linear.weight.abs().sum() < before
