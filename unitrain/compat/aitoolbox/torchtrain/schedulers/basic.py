"""``aitoolbox.torchtrain.schedulers.basic``: torch schedulers stepped by callbacks."""

from unitrain.compat.aitoolbox.callbacks.schedulers import (
    AbstractScheduler,
    GeneralLRSchedulerCallback,
    LambdaLRScheduler,
    MultiStepLRScheduler,
    ReduceLROnPlateauMetricScheduler,
    ReduceLROnPlateauScheduler,
    StepLRScheduler,
)

__all__ = [
    "AbstractScheduler",
    "GeneralLRSchedulerCallback",
    "LambdaLRScheduler",
    "MultiStepLRScheduler",
    "ReduceLROnPlateauMetricScheduler",
    "ReduceLROnPlateauScheduler",
    "StepLRScheduler",
]
