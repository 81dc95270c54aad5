"""``aitoolbox.torchtrain.callbacks.gradient``: gradient clipping and statistics."""

from unitrain.compat.aitoolbox.callbacks.gradient import (
    GradDistributionPlot,
    GradientCallbackBase,
    GradientStatsPrint,
    GradNormClip,
    GradValueClip,
)

__all__ = [
    "GradDistributionPlot",
    "GradNormClip",
    "GradValueClip",
    "GradientCallbackBase",
    "GradientStatsPrint",
]
