"""``ikkuna.export.subscriber.train_accuracy`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    TrainAccuracySubscriber,
)

__all__ = ["TrainAccuracySubscriber"]
