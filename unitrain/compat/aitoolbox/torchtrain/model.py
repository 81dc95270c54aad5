"""``aitoolbox.torchtrain.model``: the model contract (defined in :mod:`..model`)."""

from unitrain.compat.aitoolbox.model import ModelWrap, TTBasicModel, TTModel

__all__ = ["ModelWrap", "TTBasicModel", "TTModel"]
