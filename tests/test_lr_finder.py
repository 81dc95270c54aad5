"""lr_find: the rates tried, early stop on divergence, a sane suggestion, nothing changed."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
from torch import nn

import unitrain as ut
from unitrain.errors import ConfigError
from unitrain.lr_finder import LRFinderResult, lr_find


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, 8, generator=generator)
    targets = (inputs @ torch.randn(8, generator=generator) > 0).long()
    return [(inputs[i : i + 16], targets[i : i + 16]) for i in range(0, 256, 16)]


def _task() -> ut.Task:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    return ut.Task(
        model, loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.01)
    )


def test_rates_rise_geometrically_and_the_loss_diverges_at_the_top() -> None:
    result = lr_find(_task(), _data(), min_lr=1e-4, max_lr=1e3, num_steps=60)
    ratios = {round(b / a, 9) for a, b in zip(result.lrs, result.lrs[1:], strict=False)}
    assert len(ratios) == 1 and ratios.pop() == pytest.approx((1e7) ** (1 / 59))
    assert result.stopped_early and len(result.lrs) < 60
    assert max(result.losses) > 4 * min(result.losses) or not math.isfinite(result.losses[-1])


def test_the_suggestion_trains_well() -> None:
    result = lr_find(_task(), _data(), min_lr=1e-5, max_lr=10.0, num_steps=80)
    suggested = result.suggestion()
    assert 1e-3 <= suggested <= 5.0
    task = _task()
    task.optimizer = lambda p: torch.optim.SGD(p, lr=suggested)
    metrics_before = ut.Trainer(task, max_epochs=1, device="cpu").evaluate(_data())
    trainer = ut.Trainer(task, max_epochs=3, device="cpu")
    trainer.fit(_data())
    assert trainer.evaluate(_data())["loss"] < 0.8 * metrics_before["loss"]


def test_the_users_model_optimizer_and_generators_are_left_as_they_were() -> None:
    task = _task()
    optimizer = torch.optim.Adam(task.model.parameters(), lr=1e-3)
    task.optimizer = optimizer
    before = [p.detach().clone() for p in task.model.parameters()]
    random.seed(5)
    torch.manual_seed(5)
    expected = (random.random(), torch.rand(()))
    random.seed(5)
    torch.manual_seed(5)
    lr_find(task, _data(), num_steps=20, max_lr=1.0)
    assert (random.random(), torch.rand(())) == expected
    assert all(torch.equal(a, b) for a, b in zip(before, task.model.parameters(), strict=True))
    assert optimizer.state_dict()["state"] == {}
    assert optimizer.param_groups[0]["lr"] == 1e-3


def test_plot_marks_the_suggestion(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = lr_find(_task(), _data(), min_lr=1e-5, max_lr=10.0, num_steps=40)
    path = result.plot(tmp_path / "lr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_too_few_steps_to_suggest_and_bad_settings() -> None:
    with pytest.raises(Exception, match="too few to suggest"):
        LRFinderResult(lrs=[1e-3, 1e-2], losses=[1.0, 0.9]).suggestion()
    with pytest.raises(ConfigError, match=r"min_lr=1.0, max_lr=0.1.*num_steps=1.*mode='log'"):
        lr_find(_task(), _data(), min_lr=1.0, max_lr=0.1, num_steps=1, mode="log")  # type: ignore[arg-type]
