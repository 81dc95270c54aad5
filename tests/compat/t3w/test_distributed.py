"""A t3w TrainLoop on ``"cpu:2"``: two processes through unitrain's launcher (gloo)."""

from __future__ import annotations

import pytest
import torch

from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w
from unitrain.errors import ConfigError


def test_a_two_process_fit_returns_rank_zeros_model_progress_and_metrics() -> None:
    module = make_module()
    before = module.user_model.linear.weight.detach().clone()
    assert module.to("cpu:2") is module and module.devices_spec == "cpu:2"
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=10, seed=1), metrics={"acc": t3w.AverageMetric(Accuracy())}
    )
    loop = t3w.TrainLoop(
        PointSet(size=16), module, losses={"ce": CrossEntropy()}, epochs=2, eval_loop=evaluation
    )
    loop()
    # 16 samples split over 2 processes, batches of 4: 2 optimizer steps per epoch
    progress = module.training_progress
    assert (progress.epoch, progress.step) == (2, 4)
    assert not torch.equal(module.user_model.linear.weight, before)
    value = evaluation.metric_values["acc"]
    assert 0.0 <= value <= 1.0 and value * 10 == pytest.approx(round(value * 10))  # of 10 samples


def test_distributed_runs_refuse_what_cannot_be_split() -> None:
    module = make_module().to("cpu:2")
    loop = t3w.TrainLoop(PointSet(size=16), module, losses={"ce": CrossEntropy()}, iter_per_epoch=3)
    with pytest.raises(ConfigError, match=r"'cpu:2'.*iter_per_epoch"):
        loop()
