"""``ikkuna.export.subscriber.loss`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    LossSubscriber,
)

__all__ = ["LossSubscriber"]
