"""``aitoolbox.torchtrain.data.batch_model_feed_defs``: how a plain module is fed."""

from unitrain.compat.aitoolbox.model import AbstractModelFeedDefinition

__all__ = ["AbstractModelFeedDefinition"]
