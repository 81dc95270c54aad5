"""``aitoolbox.torchtrain.schedulers.warmup``: warm-up schedules stepped per update."""

from unitrain.compat.aitoolbox.callbacks.schedulers import (
    ConstantWithWarmupScheduler,
    CosineWithWarmupScheduler,
    HardRestartsCosineWithWarmupScheduler,
    LinearWithWarmupScheduler,
)

__all__ = [
    "ConstantWithWarmupScheduler",
    "CosineWithWarmupScheduler",
    "HardRestartsCosineWithWarmupScheduler",
    "LinearWithWarmupScheduler",
]
