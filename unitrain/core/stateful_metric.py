"""Metrics that keep their own state over a pass (``torchmetrics.Metric`` and its kind).

A metric with ``update``, ``compute`` and ``reset`` methods (what torchmetrics' ``Metric``
has) passed in ``Task(metrics=...)`` is a *dataset* metric: reset when an evaluation starts,
updated with each batch's outputs and targets on their device, computed once when the
evaluation ends. Averaging per-batch values instead would be wrong for F1, precision, AUROC
and their kind (a mean of batch F1s is not the dataset's F1). Synchronising across ranks is
the metric's own business: torchmetrics gathers its states in ``compute`` when a process
group is up.

A scalar result is reported under the metric's name; a tensor (a confusion matrix, per-class
values) as one value per element, ``name/i`` or ``name/i/j``; a dict as ``name/key``.
Nothing here imports torchmetrics: any object with those three methods works.
"""

from __future__ import annotations

from typing import Any

import torch

from unitrain.core.metrics import IDatasetMetric
from unitrain.core.result import StepResult
from unitrain.errors import BatchError

__all__ = ["StatefulMetric", "is_stateful_metric"]


def is_stateful_metric(metric: object) -> bool:
    """True for an object that accumulates over a pass (``update`` / ``compute`` / ``reset``)."""
    return all(callable(getattr(metric, name, None)) for name in ("update", "compute", "reset"))


class StatefulMetric(IDatasetMetric):
    """Adapts an ``update`` / ``compute`` / ``reset`` metric to the dataset-metric protocol."""

    def __init__(self, name: str, metric: Any) -> None:
        super().__init__()
        self.name, self.metric = name, metric
        self._device: torch.device | None = None
        self.higher_better = bool(getattr(metric, "higher_is_better", True) is not False)

    def reset(self) -> None:
        self.metric.reset()

    def update(self, source: Any) -> None:
        if not isinstance(source, StepResult):
            raise BatchError(
                f"metric {self.name!r} ({type(self.metric).__name__}) is updated with a batch's "
                "outputs and targets, which typed minibatches (IMiniBatch) do not hand over; "
                "wrap it in an IDatasetMetric whose update(mb) reads the minibatch"
            )
        outputs = source.outputs
        if (
            isinstance(outputs, torch.Tensor)
            and outputs.device != self._device
            and isinstance(self.metric, torch.nn.Module)
        ):
            self.metric.to(outputs.device)  # once: its states then live beside the outputs
            self._device = outputs.device
        self.metric.update(outputs, source.targets)

    def eval(self) -> float:
        return float(self.values()[self.name])

    def values(self) -> dict[str, float]:
        """Every value the metric computed, flattened to names (see the module docstring)."""
        return dict(_flatten(self.name, self.metric.compute()))


def _flatten(name: str, value: Any) -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [item for key, v in value.items() for item in _flatten(f"{name}/{key}", v)]
    tensor = torch.as_tensor(value).detach()
    if tensor.dim() == 0:
        return [(name, float(tensor))]
    return [item for i, row in enumerate(tensor) for item in _flatten(f"{name}/{i}", row)]
