"""The typed result of one train or eval step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["StepResult", "no_result"]


@dataclass(slots=True, eq=False)
class StepResult:
    """What a forward / eval stage returns.

    ``loss`` is the total to backpropagate (the sum of ``reweight * raw`` over ``losses``);
    ``losses`` maps each loss name to the pair ``(reweight, raw)``; ``metrics`` maps each
    metric name to a scalar tensor (the batch mean). All values stay on the device: reading
    one forces a host sync. ``batch_size`` weights this step in evaluation averages.
    """

    loss: torch.Tensor | None = None
    losses: dict[str, tuple[float, torch.Tensor]] = field(default_factory=dict)
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: Any = None
    targets: Any = None
    batch_size: int = 0

    def scalars(self) -> dict[str, torch.Tensor]:
        """Every value to average over an eval pass: ``loss``, each raw loss, each metric."""
        values: dict[str, torch.Tensor] = {}
        if self.loss is not None:
            values["loss"] = self.loss.detach()
        if len(self.losses) > 1:
            for name, (_, raw) in self.losses.items():
                values[f"loss/{name}"] = raw.detach()
        for name, value in self.metrics.items():
            values[name] = value.detach()
        return values


def no_result(stage: str, expected: str, got: object = None) -> str:
    """The message for a stage that returned nothing (or the wrong thing)."""
    return (
        f"stage {stage!r} returned {type(got).__name__ if got is not None else 'nothing'}; "
        f"expected {expected}. The task implements it by default: check that a plugin or "
        f"Task subclass that overrides {stage} returns its result"
    )
