"""A tiny PytorchTask project for the adapter tests: a linear classifier on points."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.pytorch_task import PytorchTask

Batch = tuple[torch.Tensor, torch.Tensor]


def make_batches(count: int = 4, size: int = 8, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count * size, 3, generator=generator)
    y = (x.sum(dim=1) > 0).long()
    return [(x[i : i + size], y[i : i + size]) for i in range(0, count * size, size)]


def accuracy(output: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return (output.argmax(dim=1) == label).float().mean()


class PointsTask(PytorchTask):
    """Trains a linear classifier with SGD; tests accuracy."""

    def __init__(self, seed: int = 0, lr: float = 0.5, epochs: int = 2, batches: Any = None):
        torch.manual_seed(seed)
        super().__init__(nn.Linear(3, 2))
        self.epochs = epochs
        self.lr = lr
        self.batches = batches if batches is not None else make_batches()

    def get_training_data(self) -> Any:
        return self.batches

    def get_testing_data(self) -> Any:
        return make_batches(count=2, seed=9)

    def get_criterion(self) -> Any:
        return nn.CrossEntropyLoss()

    def get_metric(self) -> Any:
        return accuracy

    def get_optimizer(self) -> Any:
        return torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.5)
