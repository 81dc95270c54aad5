"""``MessageService``: keyed messages between callbacks, with aitoolbox's lifetimes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["Message", "MessageHandling", "MessageService"]


class MessageHandling:
    """How long a message lives (give one or a list of them to ``write_message``)."""

    KEEP_FOREVER = "keep_forever"
    UNTIL_END_OF_EPOCH = "until_end_of_epoch"
    UNTIL_READ = "until_read"
    OVERWRITE = "overwrite"
    ACCEPTED_SETTINGS = (KEEP_FOREVER, UNTIL_END_OF_EPOCH, UNTIL_READ, OVERWRITE)


@dataclass(slots=True)
class Message:
    """One message and its lifetime settings."""

    key: str
    value: Any
    settings: tuple[str, ...]


class MessageService:
    """Messages posted by one callback and read by others, purged by lifetime.

    ``UNTIL_END_OF_EPOCH`` (the default) messages are dropped by ``end_of_epoch_trigger``
    (the train loop calls it after every ``on_epoch_end``); ``UNTIL_READ`` ones by the
    first ``read_messages``; ``OVERWRITE`` replaces the key's earlier messages;
    ``KEEP_FOREVER`` ones stay.
    """

    def __init__(self) -> None:
        self.message_store: dict[str, list[Message]] = {}

    def read_messages(self, key: str) -> list[Any] | None:
        """The values posted under ``key`` (oldest first), or ``None`` when there are none."""
        messages = self.message_store.get(key)
        if messages is None:
            return None
        values = [message.value for message in messages]
        kept = [m for m in messages if MessageHandling.UNTIL_READ not in m.settings]
        if kept:
            self.message_store[key] = kept
        else:
            del self.message_store[key]
        return values

    def write_message(
        self,
        key: str,
        value: Any,
        msg_handling_settings: str | Iterable[str] = MessageHandling.UNTIL_END_OF_EPOCH,
    ) -> None:
        """Post ``value`` under ``key`` with the given lifetime setting(s)."""
        settings = (
            (msg_handling_settings,)
            if isinstance(msg_handling_settings, str)
            else tuple(msg_handling_settings)
        )
        unknown = [s for s in settings if s not in MessageHandling.ACCEPTED_SETTINGS]
        if unknown or not settings:
            raise ConfigError(
                f"MessageService.write_message({key!r}): unknown message handling setting(s) "
                f"{unknown or settings!r}; expected one or more of "
                f"{MessageHandling.ACCEPTED_SETTINGS}"
            )
        message = Message(key, value, settings)
        if MessageHandling.OVERWRITE in settings:
            self.message_store[key] = [message]
        else:
            self.message_store.setdefault(key, []).append(message)

    def end_of_epoch_trigger(self) -> None:
        """Drop every ``UNTIL_END_OF_EPOCH`` message (called after each epoch's callbacks)."""
        for key in list(self.message_store):
            kept = [
                m
                for m in self.message_store[key]
                if MessageHandling.UNTIL_END_OF_EPOCH not in m.settings
            ]
            if kept:
                self.message_store[key] = kept
            else:
                del self.message_store[key]
