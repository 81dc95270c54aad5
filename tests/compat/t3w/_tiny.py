"""A tiny t3w-style project used by the t3w adapter tests: points, a linear classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unitrain.compat import t3w

FEATURES = 3


class Point(t3w.IDatum):
    train_batch_size = 4
    val_batch_size = 5

    def __init__(self, x: torch.Tensor, y: torch.Tensor, index: int) -> None:
        self.x, self.y, self.uuid = x, y, index

    @staticmethod
    def collate(data: Sequence[t3w.IDatum]) -> t3w.IMiniBatch:
        points = [d for d in data if isinstance(d, Point)]
        return Points(torch.stack([p.x for p in points]), torch.stack([p.y for p in points]))


class Points(t3w.IMiniBatch):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y
        self.logits: torch.Tensor | None = None


class PointSet(t3w.IDataset):
    datum_type = Point

    def __init__(self, root: str = "", split: str | None = None, size: int = 16, seed: int = 0):
        super().__init__(root, split)
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, FEATURES, generator=generator)
        self.y = (self.x.sum(dim=1) > 0).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> Point:
        return Point(self.x[index], self.y[index], index)


class Classifier(nn.Module):
    """Fills ``mb.logits``; returns a small weight-decay regularizer when asked to."""

    def __init__(self, regularize: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(FEATURES, 2)
        self.regularize = regularize

    def forward(self, mb: Points) -> torch.Tensor | None:
        mb.logits = self.linear(mb.x)
        return self.linear.weight.pow(2).sum() if self.regularize else None


class CrossEntropy(t3w.ILoss):
    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.logits is not None
        return nn.functional.cross_entropy(mb.logits, mb.y, reduction="none")


class Accuracy(t3w.IMiniBatchMetric):
    higher_better = True

    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.logits is not None
        return (mb.logits.argmax(dim=1) == mb.y).float()


def make_module(seed: int = 0, lr: float = 0.1, regularize: bool = False) -> t3w.TopLevelModule:
    torch.manual_seed(seed)
    model = Classifier(regularize)
    return t3w.TopLevelModule(model, optim=torch.optim.SGD(model.parameters(), lr=lr))
