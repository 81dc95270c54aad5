"""``ikkuna.export.subscriber.histogram`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    HistogramSubscriber,
)

__all__ = ["HistogramSubscriber"]
