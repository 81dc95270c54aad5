"""Sample-weighted means of step results over an eval pass, kept on the device."""

from __future__ import annotations

import torch

from unitrain.core.result import StepResult

__all__ = ["MeanAccumulator"]


class MeanAccumulator:
    """Adds each step's scalars times its batch size; reads the host once, at the end."""

    __slots__ = ("_counts", "_sums")

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, result: StepResult) -> None:
        weight = result.batch_size or 1
        for name, value in result.scalars().items():
            weighted = value.double() * weight
            previous = self._sums.get(name)
            self._sums[name] = weighted if previous is None else previous + weighted
            self._counts[name] = self._counts.get(name, 0) + weight

    def compute(self) -> dict[str, float]:
        """The means, with one device-to-host copy for all names together."""
        if not self._sums:
            return {}
        names = list(self._sums)
        values = torch.stack([self._sums[n].reshape(()) for n in names]).tolist()
        return {n: v / self._counts[n] for n, v in zip(names, values, strict=True)}
