"""t3w's metrics: the native classes, plus t3w's dataset-metric extras and ``LearningRate``.

``IMiniBatchMetric`` and ``ILoss`` are unitrain's own (calling one stores ``raw_output`` and
averages over the real samples, as t3w did). t3w's ``IDatasetMetric`` could also be called
like a minibatch metric (update, synchronize, eval) and moved with ``.to``; the subclasses
here add that to the native ``IDatasetMetric`` / ``AverageMetric``.
"""

from __future__ import annotations

from typing import Any

import torch

from unitrain.core import metrics as native
from unitrain.core.metrics import ILoss, IMiniBatchMetric

__all__ = ["AverageMetric", "IDatasetMetric", "ILoss", "IMiniBatchMetric", "LearningRate"]


class IDatasetMetric(native.IDatasetMetric):
    """A metric over a whole pass: ``reset`` / ``update(mb)`` / ``synchronize`` / ``eval``.

    Calling it (t3w's non-standard use as a minibatch metric) updates, synchronizes and
    returns the current value as a tensor.
    """

    def __call__(self, mb: Any) -> torch.Tensor:
        self.update(mb)
        self.synchronize()
        return torch.tensor(self.eval())

    def forward(self, mb: Any) -> torch.Tensor:
        """Same as calling the metric (t3w's name)."""
        return self(mb)

    def to(self, device: torch.device | str) -> IDatasetMetric:
        """Move the embedded minibatch metric to ``device``; return ``self``."""
        if self.minibatch_metric is not None:
            self.minibatch_metric.to(device)
        return self

    def float(self) -> float:
        """The current value (t3w's spelling of ``eval()``)."""
        return self.eval()


class AverageMetric(native.AverageMetric, IDatasetMetric):
    """Mean of a minibatch metric over the real samples of a pass; an empty pass is 0.0
    (t3w's ``sum / max(count, 1)``).

    The sum is of the per-sample values (a 1-d ``raw_output``) in float64 on the
    device, not of float32 batch means times batch sizes as in t3w: sums of per-sample
    float32 values are exact in float64 (for 0/1 scores always; in general while the
    values span less than 2**29 of each other's scale), so they do not depend on how the
    samples were batched or split across processes, and the value of a pass on N processes
    equals the one-process value bit for bit. A metric that returns one scalar per batch is
    weighted by the batch's real sample count, as in t3w.
    """

    def update(self, mb: Any) -> None:
        count = mb.nopad_batch_size
        if count == 0:  # t3w skipped batches of padding only
            return
        assert self.minibatch_metric is not None
        mean = self.minibatch_metric(mb).detach()
        raw = self.minibatch_metric.raw_output
        if isinstance(raw, torch.Tensor) and raw.dim() == 1 and raw.shape[0] >= count:
            total = raw.detach()[:count].double().sum()
        else:
            total = mean.double() * count
        self._sum = total if self._sum is None else self._sum + total
        self._count += count

    def eval(self) -> float:
        if self._sum is None or self._count == 0:
            return 0.0
        return float(self._sum.item()) / self._count


class LearningRate(IMiniBatchMetric):
    """Reports the learning rate of one parameter group of ``mb.model.optim``."""

    higher_better = True

    def __init__(self, param_group: int = 0) -> None:
        super().__init__()
        self.param_group = param_group

    def forward(self, mb: Any) -> torch.Tensor:
        optim = getattr(mb.model, "optim", None)
        if optim is None:
            raise TypeError(
                "LearningRate: mb.model has no optimizer; the minibatch must come from a "
                "TopLevelModule(model, optim=...) being trained by a TrainLoop"
            )
        return torch.tensor(optim.param_groups[self.param_group]["lr"])
