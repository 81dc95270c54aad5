"""``ikkuna.export.subscriber.mean`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    MeanSubscriber,
)

__all__ = ["MeanSubscriber"]
