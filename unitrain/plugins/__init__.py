"""Built-in plugins, one concept per module."""

from unitrain.plugins.amp import MixedPrecision
from unitrain.plugins.clipping import GradientClipping
from unitrain.plugins.lr_scheduler import LRScheduler, ScheduledLR, SchedulerStepper
from unitrain.plugins.metrics_log import MetricsLog
from unitrain.plugins.progress import ProgressBar

__all__ = [
    "GradientClipping",
    "LRScheduler",
    "MetricsLog",
    "MixedPrecision",
    "ProgressBar",
    "ScheduledLR",
    "SchedulerStepper",
]
