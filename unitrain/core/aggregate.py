"""Sample-weighted means of step results over an eval pass, kept on the device."""

from __future__ import annotations

import torch

from unitrain.core.result import StepResult
from unitrain.errors import StageError

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
            if value.numel() != 1:
                raise StageError(
                    f"the eval step's value {name!r} has shape {tuple(value.shape)}; every loss "
                    "and metric in a StepResult must be a scalar (the batch mean): reduce it "
                    "with .mean(), or return per-sample values from a metric callable, which "
                    "the task averages"
                )
            weighted = value.double() * weight
            previous = self._sums.get(name)
            self._sums[name] = weighted if previous is None else previous + weighted
            self._counts[name] = self._counts.get(name, 0) + weight

    def synchronize(self, device: torch.device) -> None:
        """Sum the sums and counts of every rank (no-op without a process group).

        Names are agreed first, so a rank that saw no batch (or a metric another rank lacks)
        still takes part; one all-reduce in float64 follows. Called once per pass.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        everyone: list[list[str] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, sorted(self._sums))
        names = sorted({name for names in everyone for name in names or ()})
        zero = torch.zeros((), dtype=torch.float64, device=device)
        sums_here = [self._sums.get(n, zero).to(device, torch.float64).reshape(()) for n in names]
        counts_here = [float(self._counts.get(n, 0)) for n in names]
        counts_tensor = torch.tensor(counts_here, dtype=torch.float64, device=device)
        packed = torch.cat([torch.stack(sums_here), counts_tensor]) if names else counts_tensor
        dist.all_reduce(packed)
        sums, counts = packed[: len(names)], packed[len(names) :].tolist()
        self._sums = {n: sums[i] for i, n in enumerate(names) if counts[i] > 0}
        self._counts = {n: int(counts[i]) for i, n in enumerate(names) if counts[i] > 0}

    def compute(self) -> dict[str, float]:
        """The means, with one device-to-host copy for all names together."""
        if not self._sums:
            return {}
        names = list(self._sums)
        values = torch.stack([self._sums[n].reshape(()) for n in names]).tolist()
        return {n: v / self._counts[n] for n, v in zip(names, values, strict=True)}
