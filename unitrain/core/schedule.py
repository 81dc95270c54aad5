"""Learning-rate schedules: which scheduler steps when; the engine steps them itself.

``make_scheduler`` gives a scheduler per optimizer at the start of the first fit; a plain
``torch.optim.lr_scheduler`` object is wrapped as ``ScheduledLR(scheduler)`` (every epoch).
The engine steps every scheduler in ``state.schedulers`` at two fixed points, so no plugin is
involved and every plugin sees the same rate:

- ``interval="step"``: right after the optimizers of an accumulation window stepped and
  ``state.global_step`` counted it, before ``on_train_step_end`` (also for the short last
  window of an epoch, which steps inside its last micro-step);
- ``interval="epoch"``: after the epoch's scheduled evaluation, before ``on_epoch_end``
  (also when a stop request cut the epoch short).

Each then steps when its count (``global_step`` or ``epoch + 1``) is a multiple of
``frequency``; with ``monitor`` it is given that metric of ``split``'s latest evaluation
(``ReduceLROnPlateau``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from unitrain.errors import ConfigError, StateError

__all__ = ["Interval", "ScheduledLR", "as_scheduled", "step_schedulers"]

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


def as_scheduled(scheduler: object) -> ScheduledLR:
    """``scheduler`` as a :class:`ScheduledLR` (a plain one steps every epoch)."""
    return scheduler if isinstance(scheduler, ScheduledLR) else ScheduledLR(scheduler)


def step_schedulers(
    schedulers: Iterable[ScheduledLR],
    interval: Interval,
    count: int,
    metrics: Mapping[str, Mapping[str, float]],
) -> None:
    """Step the schedulers of ``interval`` that are due at ``count`` (``state.global_step``
    for ``"step"``, ``state.epoch + 1`` for ``"epoch"``); a monitoring one is given its
    metric from ``metrics`` (``state.eval_metrics``)."""
    for item in schedulers:
        if item.interval == interval and count % item.frequency == 0:
            _step(item, metrics)


def _step(item: ScheduledLR, metrics: Mapping[str, Mapping[str, float]]) -> None:
    if item.monitor is None:
        item.scheduler.step()
        return
    split = metrics.get(item.split)
    if split is None or item.monitor not in split:
        have = sorted(split) if split else f"no evaluation of split {item.split!r} yet"
        raise StateError(
            f"scheduler monitors {item.monitor!r} of split {item.split!r}, which is not in "
            f"the evaluation metrics ({have}); pass eval_data={{{item.split!r}: loader}} to "
            "fit and evaluate at least as often as the scheduler steps"
        )
    item.scheduler.step(split[item.monitor])
