"""``MessageService``: keyed messages between callbacks, with aitoolbox's lifetimes.

``MessageHandling`` is an enum, as in aitoolbox; a message carries the list of its settings
(``msg_handling_settings``). Several settings combine only with ``OVERWRITE``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from unitrain.errors import ConfigError, UnitrainError

__all__ = ["Message", "MessageHandling", "MessageService", "MessageSettingTypeError"]


class MessageSettingTypeError(UnitrainError, TypeError):
    """A message lifetime setting that is not a ``MessageHandling`` (aitoolbox: TypeError)."""


class MessageHandling(Enum):
    """How long a message lives (give one, or a list with ``OVERWRITE``, to ``write_message``)."""

    KEEP_FOREVER = "keep_forever"
    UNTIL_END_OF_EPOCH = "until_end_of_epoch"
    UNTIL_READ = "until_read"
    OVERWRITE = "overwrite"


class Message:
    """One message: its key, value and lifetime settings."""

    def __init__(
        self, key: str, value: Any, msg_handling_settings: MessageHandling | list[MessageHandling]
    ) -> None:
        self.key = key
        self.value = value
        self.msg_handling_settings = (
            msg_handling_settings
            if isinstance(msg_handling_settings, list)
            else [msg_handling_settings]
        )

    def __repr__(self) -> str:
        return f"Message({self.key!r}, {self.value!r}, {self.msg_handling_settings!r})"


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
        """The values posted under ``key`` (oldest first), or ``None`` for an unknown key."""
        if key not in self.message_store:
            return None
        messages = self.message_store[key]
        self.message_store[key] = [
            m for m in messages if MessageHandling.UNTIL_READ not in m.msg_handling_settings
        ]
        return [message.value for message in messages]

    def write_message(
        self,
        key: str,
        value: Any,
        msg_handling_settings: MessageHandling | list[MessageHandling] = (
            MessageHandling.UNTIL_END_OF_EPOCH
        ),
    ) -> None:
        """Post ``value`` under ``key`` with the given lifetime setting(s)."""
        settings = self.validate_msg_handling_settings(msg_handling_settings)
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
                if MessageHandling.UNTIL_END_OF_EPOCH not in m.msg_handling_settings
            ]
            if kept:
                self.message_store[key] = kept
            else:
                del self.message_store[key]

    @staticmethod
    def validate_msg_handling_settings(
        msg_handling_settings: MessageHandling | list[MessageHandling],
    ) -> list[MessageHandling]:
        """The settings as a list; refuse unknown ones and combinations without OVERWRITE."""
        settings = (
            msg_handling_settings
            if isinstance(msg_handling_settings, list)
            else [msg_handling_settings]
        )
        unknown = [s for s in settings if not isinstance(s, MessageHandling)]
        if unknown or not settings:
            raise MessageSettingTypeError(
                f"MessageService.write_message: unknown message handling setting(s) "
                f"{unknown or settings!r}; expected MessageHandling members "
                f"{[m.name for m in MessageHandling]} (or a list of them)"
            )
        if len(settings) > 1 and MessageHandling.OVERWRITE not in settings:
            raise ConfigError(
                f"MessageService.write_message: settings {[s.name for s in settings]} cannot "
                "be combined; only OVERWRITE combines with another setting"
            )
        return settings
