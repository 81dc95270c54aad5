"""``aitoolbox.torchtrain.callbacks.abstract``: the callback base classes."""

from unitrain.compat.aitoolbox.abstract import AbstractCallback, AbstractExperimentCallback

__all__ = ["AbstractCallback", "AbstractExperimentCallback"]
