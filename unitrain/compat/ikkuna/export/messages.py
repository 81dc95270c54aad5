"""``ikkuna.export.messages`` under unitrain."""

from unitrain.compat.ikkuna.messages import (
    DATA_KINDS,
    META_KINDS,
    Message,
    MessageBundle,
    MessageBus,
    ModuleMessage,
    NetworkMessage,
    get_default_bus,
)

__all__ = [
    "DATA_KINDS",
    "META_KINDS",
    "Message",
    "MessageBundle",
    "MessageBus",
    "ModuleMessage",
    "NetworkMessage",
    "get_default_bus",
]
