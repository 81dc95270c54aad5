"""The learning-rate scheduler plugin: a scheduler for each optimizer, from a factory.

The engine steps the schedulers itself (:mod:`unitrain.core.schedule`); this plugin only
makes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unitrain.core.schedule import Interval, ScheduledLR

__all__ = ["LRScheduler"]


class LRScheduler:
    """Make a scheduler for each optimizer from ``factory(optimizer)``.

    ``LRScheduler(lambda opt: StepLR(opt, 10))`` steps it every epoch;
    ``interval="step"`` every optimizer step; ``monitor="loss"`` passes the ``split``
    evaluation's value (for ``ReduceLROnPlateau``).
    """

    name = "lr_scheduler_factory"

    def __init__(
        self,
        factory: Callable[[torch.optim.Optimizer], Any],
        *,
        interval: Interval = "epoch",
        frequency: int = 1,
        monitor: str | None = None,
        split: str = "val",
        optimizer_idx: int | None = None,
    ) -> None:
        self.factory = factory
        self.interval: Interval = interval
        self.frequency = frequency
        self.monitor = monitor
        self.split = split
        self.optimizer_idx = optimizer_idx
        ScheduledLR(None, interval, frequency, None, split)  # validate now, not at fit start

    def make_scheduler(
        self, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> ScheduledLR | None:
        if self.optimizer_idx is not None and optimizer_idx != self.optimizer_idx:
            return None
        return ScheduledLR(
            self.factory(optimizer), self.interval, self.frequency, self.monitor, self.split
        )
