"""``ikkuna.export.subscriber.message_mean`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    MessageMeanSubscriber,
)

__all__ = ["MessageMeanSubscriber"]
