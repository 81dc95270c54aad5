"""``ikkuna.export.subscriber.test_accuracy`` at its unitrain path."""

from unitrain.compat.ikkuna.accuracy import TestAccuracySubscriber

__all__ = ["TestAccuracySubscriber"]
