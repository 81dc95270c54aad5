"""``aitoolbox.torchtrain.train_loop.components.callback_handler``."""

from unitrain.compat.aitoolbox.handler import CallbacksHandler

__all__ = ["CallbacksHandler"]
