"""Learning-rate schedulers: stepped per epoch, per optimizer step, or on a metric."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.errors import ConfigError, StateError

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["LRScheduler", "ScheduledLR", "SchedulerStepper"]

Interval = Literal["epoch", "step"]


@dataclass(slots=True)
class ScheduledLR:
    """A scheduler and when to step it.

    ``interval``: ``"epoch"`` (after the epoch's evaluation) or ``"step"`` (after each
    optimizer step); ``frequency``: every N of them. ``monitor``: a metric name of
    ``split``'s evaluation, passed to ``scheduler.step(value)`` (for ``ReduceLROnPlateau``).
    """

    scheduler: Any
    interval: Interval = "epoch"
    frequency: int = 1
    monitor: str | None = None
    split: str = "val"

    def __post_init__(self) -> None:
        if self.interval not in ("epoch", "step"):
            raise ConfigError(
                f"ScheduledLR.interval must be 'epoch' or 'step', got {self.interval!r}"
            )
        if self.frequency < 1:
            raise ConfigError(f"ScheduledLR.frequency must be >= 1, got {self.frequency}")
        plateau = isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if plateau and self.monitor is None:
            raise ConfigError(
                "ReduceLROnPlateau needs a metric: ScheduledLR(scheduler, monitor='loss', "
                "split='val')"
            )


class SchedulerStepper:
    """Steps every scheduler in ``state.schedulers`` at its interval.

    The trainer registers it when the first scheduler is made (at the start of the first
    fit), with ``order = -1``: before the other plugins' ``on_train_step_end`` and
    ``on_epoch_end``, so they see the learning rate of the next step or epoch.
    """

    name = "lr_scheduler"
    order = -1

    def on_train_step_end(self, state: State) -> None:
        if not state.ends_window:
            return
        for item in state.schedulers:
            if item.interval == "step" and state.global_step % item.frequency == 0:
                _step(item, state)

    def on_epoch_end(self, state: State) -> None:
        for item in state.schedulers:
            if item.interval == "epoch" and (state.epoch + 1) % item.frequency == 0:
                _step(item, state)


def _step(item: ScheduledLR, state: State) -> None:
    if item.monitor is None:
        item.scheduler.step()
        return
    metrics = state.eval_metrics.get(item.split)
    if metrics is None or item.monitor not in metrics:
        have = sorted(metrics) if metrics else f"no evaluation of split {item.split!r} yet"
        raise StateError(
            f"scheduler monitors {item.monitor!r} of split {item.split!r}, which is not in "
            f"the evaluation metrics ({have}); pass eval_data={{{item.split!r}: loader}} to "
            "fit and evaluate at least as often as the scheduler steps"
        )
    item.scheduler.step(metrics[item.monitor])


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
