"""Shared fixtures of the bus tests: a tiny classification problem and trainer factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut


def tiny_batches(
    n: int = 48, size: int = 12, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return [(x[i : i + size], y[i : i + size]) for i in range(0, n, size)]


def tiny_model(inplace: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=inplace), nn.Linear(8, 2))


def make_trainer(model: nn.Module | None = None, **options: Any) -> ut.Trainer:
    model = tiny_model() if model is None else model
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
    )
    options.setdefault("max_epochs", 1)
    options.setdefault("device", "cpu")
    return ut.Trainer(task, **options)


class Recorder:
    """A plain plugin that keeps every delivery (copying nothing: it reads during the call)."""

    def __init__(self, bus_kinds: Any = None) -> None:
        if bus_kinds is not None:
            self.bus_kinds = bus_kinds
        self.deliveries: list[Any] = []

    def on_bus_bundles(self, state: Any, bundles: Any) -> None:
        self.deliveries.append(bundles)


@pytest.fixture
def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return tiny_batches()


@pytest.fixture
def trainer_factory() -> Callable[..., ut.Trainer]:
    return make_trainer
