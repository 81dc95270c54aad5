"""``ikkuna.export.subscriber.norm`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    NormSubscriber,
)

__all__ = ["NormSubscriber"]
