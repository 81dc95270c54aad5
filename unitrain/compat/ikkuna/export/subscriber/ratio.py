"""``ikkuna.export.subscriber.ratio`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    RatioSubscriber,
)

__all__ = ["RatioSubscriber"]
