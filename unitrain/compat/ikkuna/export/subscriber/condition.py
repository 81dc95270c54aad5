"""``ikkuna.export.subscriber.condition`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    ConditionNumberSubscriber,
)

__all__ = ["ConditionNumberSubscriber"]
