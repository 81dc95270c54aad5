"""``ikkuna.export.subscriber.variance`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    VarianceSubscriber,
)

__all__ = ["VarianceSubscriber"]
