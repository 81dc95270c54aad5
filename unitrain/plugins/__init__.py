"""Built-in plugins, one concept per module."""

from unitrain.plugins.lr_scheduler import LRScheduler, ScheduledLR, SchedulerStepper

__all__ = ["LRScheduler", "ScheduledLR", "SchedulerStepper"]
