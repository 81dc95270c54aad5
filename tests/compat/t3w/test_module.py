"""TopLevelModule: forward semantics, devices, and the save / load round trip."""

from __future__ import annotations

import gzip
import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.compat.t3w._tiny import Classifier, CrossEntropy, Point, PointSet, make_module
from unitrain.compat import t3w
from unitrain.errors import BatchError, CheckpointError, ConfigError


def _batch(size: int = 4) -> Any:
    dataset = PointSet(size=size)
    return Point.collate([dataset[i] for i in range(size)])


def test_train_forward_returns_the_reweighted_sum_and_fills_the_step_dict() -> None:
    module = t3w.TopLevelModule(Classifier(regularize=True), regularizer_reweight=0.5)
    ce = CrossEntropy()
    ce.loss_reweight = 2.0
    step: Any = {"losses": {}, "metrics": {}}
    mb = _batch()
    total = module(mb, {"ce": ce}, {}, step)
    weight, regularizer = step["losses"]["regularizer_loss"]
    assert weight == 0.5 and step["losses"]["ce"][0] == 2.0
    assert torch.equal(total, 0.0 + 0.5 * regularizer + 2.0 * step["losses"]["ce"][1])
    assert mb.model is module and mb.logits is not None
    module.eval()
    assert module(mb) is mb


def test_forward_refuses_a_plain_batch() -> None:
    with pytest.raises(BatchError, match="IMiniBatch"):
        t3w.TopLevelModule(Classifier())((torch.zeros(2, 3), torch.zeros(2)))


def test_learning_rate_metric_reads_the_modules_optimizer() -> None:
    module = make_module(lr=0.25)
    step: Any = {"losses": {}, "metrics": {}}
    module(_batch(), {}, {"lr": t3w.LearningRate()}, step)
    assert float(step["metrics"]["lr"]) == 0.25


def test_one_device_moves_and_several_select_the_distributed_launcher() -> None:
    module = t3w.TopLevelModule(Classifier())
    assert module.to("cpu") is module and module.device == torch.device("cpu")
    assert module.devices_spec is None
    for several, spec in (
        ("cuda:0,1", "cuda:0,1"),
        ("cuda:0-3", "cuda:0,1,2,3"),
        ("cpu:2", "cpu:2"),
    ):
        module.to(several)
        assert module.devices_spec == spec and len(module.distributed_devices) > 1
    module.to("cpu")
    assert module.devices_spec is None and module.distributed_devices == []
    with pytest.raises(ConfigError, match="malformed"):
        module.to("cuda:3-1")
    module.to(torch.float64)  # nn.Module.to's other forms still work
    assert module.user_model.linear.weight.dtype == torch.float64


def _train_a_little(module: t3w.TopLevelModule) -> None:
    t3w.TrainLoop(PointSet(size=8), module, losses={"ce": CrossEntropy()}, epochs=2)()


def test_save_load_round_trip_restores_progress_optimizer_scheduler_and_rng(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier()
    optim = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optim, step_size=1, gamma=0.5)
    module = t3w.TopLevelModule(model, optim, scheduler)
    _train_a_little(module)
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    path = tmp_path / "ckpt.pt.gz"
    module.save(path)
    expected_draws = (random.random(), float(np.random.rand()), torch.rand(1))

    other_model = Classifier()
    other_optim = torch.optim.Adam(other_model.parameters(), lr=0.1)
    other = t3w.TopLevelModule(
        other_model, other_optim, torch.optim.lr_scheduler.StepLR(other_optim, 1, 0.5)
    )
    other.load(path)
    draws = (random.random(), float(np.random.rand()), torch.rand(1))
    assert draws[:2] == expected_draws[:2] and torch.equal(draws[2], expected_draws[2])
    progress = other.training_progress
    assert (progress.epoch, progress.step, progress.micro_step) == (2, 4, 4)
    for a, b in zip(model.parameters(), other_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert other.lr_scheduler.state_dict() == scheduler.state_dict()
    saved_state = optim.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(other_optim.state_dict()["state"][0]["exp_avg"], saved_state)
    with gzip.open(path) as stream:  # plain data only: loads with weights_only
        torch.load(io.BytesIO(stream.read()), weights_only=True)


def test_a_crash_while_saving_leaves_the_previous_file(tmp_path: Path, monkeypatch: Any) -> None:
    module = make_module()
    path = tmp_path / "ckpt.pt.gz"
    module.save(path)
    before = path.read_bytes()

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    _train_a_little(module)
    with pytest.raises(OSError, match="disk full"):
        module.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt.gz"]  # no temporary file left behind


def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> Any:
            return (Path(tmp_path / "pwned").touch, ())

    path = tmp_path / "evil.pt.gz"
    buffer = io.BytesIO()
    torch.save({"training_progress": {}, "model": Payload()}, buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    with pytest.raises(CheckpointError, match=r"evil\.pt\.gz"):
        make_module().load(path)
    assert not (tmp_path / "pwned").exists()
