"""``aitoolbox.torchtrain.train_loop.components.message_passing``: the message service."""

from unitrain.compat.aitoolbox.messages import MessageHandling, MessageService

__all__ = ["MessageHandling", "MessageService"]
