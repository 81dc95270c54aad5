"""``LearningRateLog``: the report's name for :class:`~unitrain.plugins.LearningRateMonitor`."""

from __future__ import annotations

from unitrain.plugins.lr_monitor import LearningRateMonitor

__all__ = ["LearningRateLog"]


class LearningRateLog(LearningRateMonitor):
    """Every ``every_n_steps`` optimizer steps, each param group's lr into the run's
    ``metrics.jsonl`` (what ``unitrain fit`` registers for the report's LR curve)."""

    name = "lr_log"

    def __init__(self, every_n_steps: int = 10) -> None:
        super().__init__("step", every_n_steps=every_n_steps)
