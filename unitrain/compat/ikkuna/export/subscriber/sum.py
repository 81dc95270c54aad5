"""``ikkuna.export.subscriber.sum`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    SumSubscriber,
)

__all__ = ["SumSubscriber"]
