"""A tiny classification problem shared by the built-in plugin tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import unitrain as ut


def tiny_batches(
    n: int = 64, batch: int = 16, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    y = (x.sum(1) > 0).long()
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def tiny_task(seed: int = 0, lr: float = 0.1) -> ut.Task:
    return ut.Task(
        tiny_model(seed),
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.SGD(params, lr=lr),
    )


class ValueRecorder:
    """The trainer's own numbers: the loss of each optimizer step and each evaluation."""

    name = "recorder"

    def __init__(self) -> None:
        self.losses: dict[int, float] = {}
        self.evals: dict[tuple[str, int], dict[str, float]] = {}

    def on_train_step_end(self, state: ut.State, result: Any) -> None:
        if state.ends_window:
            self.losses[state.global_step] = float(result.loss.detach())

    def on_eval_end(self, state: ut.State, split: str, metrics: dict[str, float]) -> None:
        self.evals[(split, state.global_step)] = dict(metrics)
