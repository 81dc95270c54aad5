"""``ikkuna.export.subscriber`` under unitrain."""

from unitrain.compat.ikkuna.accuracy import TestAccuracySubscriber
from unitrain.compat.ikkuna.subscriber import *  # noqa: F403
from unitrain.compat.ikkuna.subscriber import __all__ as _names

__all__ = [*_names, "TestAccuracySubscriber"]
