"""Metrics and losses of the typed contract, and the sample-weighted average."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from unitrain.core.contract import IMiniBatch
from unitrain.errors import BatchError

__all__ = ["AverageMetric", "IDatasetMetric", "ILoss", "IMiniBatchMetric", "accuracy"]


class IMiniBatchMetric(torch.nn.Module):
    """A metric of one minibatch: ``forward(mb)`` returns per-sample values or a scalar.

    Calling the metric stores the raw output as ``raw_output`` and returns the mean over
    the real (not padding) samples.
    """

    higher_better: bool = True
    raw_output: torch.Tensor | None = None

    def __call__(self, mb: IMiniBatch) -> torch.Tensor:
        raw = super().__call__(mb)
        if not isinstance(raw, torch.Tensor):
            raw = torch.as_tensor(raw, dtype=torch.float32)
        self.raw_output = raw
        if raw.dim() == 0:
            return raw
        return raw[: mb.nopad_batch_size].float().mean()


class ILoss(IMiniBatchMetric):
    """A loss of one minibatch; reported as the pair ``(loss_reweight, raw)``."""

    higher_better = False
    loss_reweight: float = 1.0


class IDatasetMetric:
    """A metric over a whole pass: ``reset``, ``update`` per batch, ``synchronize``, ``eval``."""

    higher_better: bool = True

    def __init__(self, minibatch_metric: IMiniBatchMetric | None = None) -> None:
        self.minibatch_metric = minibatch_metric
        if minibatch_metric is not None:
            self.higher_better = minibatch_metric.higher_better

    def reset(self) -> None:
        """Forget every update; called at the start of each pass."""

    def update(self, mb: Any) -> None:
        """Add one batch."""

    def synchronize(self) -> None:
        """Combine the partial states of every rank (no-op in one process)."""

    def eval(self) -> float:
        """The value over everything added since ``reset``."""
        raise TypeError(f"{type(self).__name__} must define eval()")


class AverageMetric(IDatasetMetric):
    """Mean of a minibatch metric over a pass, weighted by each batch's real sample count.

    Sums stay on the device (no host sync per batch); ``synchronize`` all-reduces them when
    a process group is initialised.
    """

    def __init__(self, minibatch_metric: IMiniBatchMetric) -> None:
        super().__init__(minibatch_metric)
        self._sum: torch.Tensor | None = None
        self._count = 0

    def reset(self) -> None:
        self._sum = None
        self._count = 0

    def update(self, mb: Any) -> None:
        assert self.minibatch_metric is not None
        if not isinstance(mb, IMiniBatch):
            raise BatchError(
                f"AverageMetric({type(self.minibatch_metric).__name__}) averages a minibatch "
                f"metric and needs IMiniBatch batches, got {type(mb).__name__}; for plain "
                "(inputs, targets) batches pass the metric in Task(metrics=...), whose values "
                "are averaged per sample over the pass"
            )
        value = self.minibatch_metric(mb).detach().double()
        count = mb.nopad_batch_size
        weighted = value * count
        self._sum = weighted if self._sum is None else self._sum + weighted
        self._count += count

    def synchronize(self) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            return
        device = self._sum.device if self._sum is not None else torch.device("cpu")
        packed = torch.stack(
            [
                self._sum if self._sum is not None else torch.zeros((), device=device).double(),
                torch.tensor(float(self._count), dtype=torch.float64, device=device),
            ]
        )
        dist.all_reduce(packed)
        self._sum, self._count = packed[0], int(packed[1].item())

    def eval(self) -> float:
        if self._count == 0 or self._sum is None:
            return float("nan")
        return float(self._sum.item()) / self._count


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample correctness (1.0 / 0.0) of class scores ``outputs`` against labels."""
    return (outputs.argmax(dim=-1) == targets).float()
