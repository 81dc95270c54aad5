"""ikkuna's messages and ``MessageBus``, on unitrain's bus types.

``Message`` and ``MessageBundle`` are unitrain's own (:mod:`unitrain.bus.messages`);
``NetworkMessage`` / ``ModuleMessage`` keep ikkuna's constructor argument order. The
``MessageBus`` keeps ikkuna's API, with two deliberate changes: messages of one step are
delivered together when the step ends (the Exporter ends it after the optimizer step, so
``batch_finished`` belongs to its own batch), and subscribing to a topic that is not
registered yet is checked at the first delivery, not at registration, so subscribers can be
created in any order. ``get_default_bus()`` is created on first use, not at import.

Keys: the bus groups messages by unitrain's :class:`~unitrain.bus.messages.ModuleKey` (the
module's name, carrying the module); an ikkuna-style subscriber receives each message and
bundle as a view whose ``key`` is ikkuna's :class:`NamedModule` ``(module, name)`` named tuple
(``"META"`` for network messages), so ``module, name = message.key`` works as in ikkuna; a
``ModuleMessage`` made by hand has that key too.
Publishing with such a key (``publish_module_message(..., message.key, value)``) files the
value under the same module.

A message published on any bus while another bus is delivering that step (a subscriber made
on the default bus, as ikkuna's ``main.py`` makes them, then registered on the exporter's bus)
joins the step being delivered: in ikkuna every bus dispatched at once, so such derived
values reached their consumers in the same step; here they do too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Final

from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import MODULE_KINDS, NETWORK_KINDS, TopicRegistry
from unitrain.bus.messages import META, Message, MessageBundle, ModuleKey
from unitrain.bus.subscriber import Subscriber as NativeSubscriber
from unitrain.compat.ikkuna.utils.named_module import NamedModule
from unitrain.errors import ConfigError

__all__ = [
    "DATA_KINDS",
    "META",
    "META_KINDS",
    "Message",
    "MessageBundle",
    "MessageBus",
    "ModuleMessage",
    "NamedModule",
    "NetworkMessage",
    "get_default_bus",
    "ikkuna_view",
    "named_key",
]

META_KINDS: Final = set(NETWORK_KINDS)
DATA_KINDS: Final = set(MODULE_KINDS)


def _key(named_module: Any) -> str:
    if isinstance(named_module, str):
        return named_module
    name, module = getattr(named_module, "name", None), getattr(named_module, "module", None)
    if isinstance(name, str):
        return ModuleKey(name, module)
    raise ConfigError(
        f"expected a NamedModule (or a module name), got {type(named_module).__name__}"
    )


def named_key(key: Any) -> Any:
    """ikkuna's key for a bus key: a :class:`NamedModule` for a module, else unchanged."""
    if isinstance(key, ModuleKey):
        return NamedModule(key.module, key.name)
    if isinstance(key, str) and key != META:
        return NamedModule(None, key)
    return key


class DeliveredMessage(Message):
    """A message as an ikkuna-style subscriber receives it: ``key`` is a ``NamedModule``."""

    __slots__ = ()

    @property
    def key(self) -> Any:
        """``NamedModule(module, name)``, or ``"META"`` for network-level data."""
        return named_key(META if self.module_name is None else self.module_name)

    @property
    def module(self) -> Any:
        """The module that emitted the data (``None`` for network messages)."""
        return getattr(self.module_name, "module", None)


def ikkuna_view(item: Any) -> Any:
    """``item`` as an ikkuna-style subscriber receives it: a copy whose ``key`` is ikkuna's
    (the data is shared, not copied)."""
    if isinstance(item, Message):
        return DeliveredMessage(
            item.kind,
            item.data,
            item.global_step,
            item.train_step,
            item.epoch,
            item.module_name,
            item.tag,
        )
    if isinstance(item, MessageBundle):
        bundle = MessageBundle(item.expected_kinds)
        bundle.data = item.data
        bundle.key = named_key(item.key)
        bundle.global_step, bundle.train_step = item.global_step, item.train_step
        bundle.epoch, bundle.tag = item.epoch, item.tag
        return bundle
    return item


class NetworkMessage(Message):
    """``NetworkMessage(tag, global_step, train_step, epoch, kind, data=None)``."""

    __slots__ = ()

    def __init__(
        self, tag: str, global_step: int, train_step: int, epoch: int, kind: str, data: Any = None
    ) -> None:
        super().__init__(kind, data, global_step, train_step, epoch, None, tag)


class ModuleMessage(Message):
    """``ModuleMessage(tag, global_step, train_step, epoch, kind, named_module, data)``."""

    __slots__ = ()

    def __init__(
        self,
        tag: str,
        global_step: int,
        train_step: int,
        epoch: int,
        kind: str,
        named_module: Any,
        data: Any,
    ) -> None:
        if data is None:
            raise ConfigError(f"ModuleMessage {kind!r}: module messages must carry data")
        super().__init__(kind, data, global_step, train_step, epoch, _key(named_module), tag)

    @property
    def key(self) -> Any:
        """ikkuna's key: ``NamedModule(module, name)``."""
        return named_key(self.module_name)

    @property
    def module(self) -> Any:
        """The module that emitted the data (when known)."""
        return getattr(self.module_name, "module", None)


def _native(message: Message) -> Message:
    # the bus groups by unitrain's keys (module names); ikkuna-keyed messages are re-made
    if type(message) is Message:
        return message
    return Message(
        message.kind,
        message.data,
        message.global_step,
        message.train_step,
        message.epoch,
        message.module_name,
        message.tag,
    )


class MessageBus:
    """A named registry of topics and subscribers that relays one step's messages to them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.topics = TopicRegistry()
        self.version = 0
        self._subscribers: list[NativeSubscriber] = []
        self._pending: StepBundles | None = None
        self._delivering: StepBundles | None = None
        self._checked = -1
        self._exporter: Callable[[], Any] = lambda: None

    @property
    def exporter(self) -> Any:
        """The latest Exporter made for this bus (held weakly), or None."""
        return self._exporter()

    @exporter.setter
    def exporter(self, exporter: Any) -> None:
        self._exporter = weakref.ref(exporter)

    # ------------------------------------------------------------ topics

    def register_meta_topic(self, topic: str) -> None:
        """Make ``topic`` known as a network-level topic."""
        self.topics.register(topic, "META")

    def register_data_topic(self, topic: str) -> None:
        """Make ``topic`` known as a per-module topic."""
        self.topics.register(topic, "DATA")

    def deregister_meta_topic(self, topic: str) -> None:
        """Forget a network-level topic."""
        self.topics.deregister(topic)

    def deregister_data_topic(self, topic: str) -> None:
        """Forget a per-module topic."""
        self.topics.deregister(topic)

    # ------------------------------------------------------------ subscribers

    def register_subscriber(self, sub: NativeSubscriber) -> bool:
        """Add ``sub`` (once); its published topics are registered with it as producer."""
        if any(s is sub for s in self._subscribers):
            return False
        for topic, kind in sub.topic_kinds.items():
            self.topics.register(topic, kind, sub)
        self._subscribers.append(sub)
        self.version += 1
        return True

    def deregister_subscriber(self, sub: NativeSubscriber) -> None:
        """Remove ``sub`` and the topics it publishes."""
        self._subscribers = [s for s in self._subscribers if s is not sub]
        for topic in sub.topic_kinds:
            self.topics.deregister(topic)
        self.version += 1

    @property
    def subscribers(self) -> list[NativeSubscriber]:
        """The registered subscribers, in registration order."""
        return list(self._subscribers)

    def wanted_kinds(self) -> set[str]:
        """Every kind some registered subscriber consumes."""
        return {kind for sub in self._subscribers for kind in sub.kinds}

    # ------------------------------------------------------------ publishing

    def publish_network_message(
        self,
        global_step: int,
        train_step: int,
        epoch: int,
        kind: str,
        data: Any = None,
        tag: str = "default",
    ) -> None:
        """Publish a network-level message (delivered when its step ends)."""
        self.publish(NetworkMessage(tag, global_step, train_step, epoch, kind, data))

    def publish_module_message(
        self,
        global_step: int,
        train_step: int,
        epoch: int,
        kind: str,
        named_module: Any,
        data: Any,
        tag: str = "default",
    ) -> None:
        """Publish a per-module message (delivered when its step ends)."""
        self.publish(ModuleMessage(tag, global_step, train_step, epoch, kind, named_module, data))

    def publish(self, message: Message) -> None:
        """Add ``message`` to its step; a message of a new step first delivers the old one."""
        if message.kind not in self.topics:
            raise ConfigError(
                f"bus {self.name!r}: kind {message.kind!r} is not a registered topic; "
                "register it (register_meta_topic / register_data_topic) or publish it from "
                "a subscriber that declared it with _add_publication"
            )
        message = _native(message)
        active = _DELIVERING[-1] if _DELIVERING else None
        delivering = active._delivering if active is not None else None
        if delivering is not None and message.global_step == delivering.global_step:
            delivering.add(message)  # a subscriber publishing a derived topic
            return
        self.open_step(message.global_step, message.train_step, message.epoch).add(message)

    def open_step(self, global_step: int, train_step: int, epoch: int) -> StepBundles:
        """The pending step with these counters (delivering a different pending one first)."""
        pending = self._pending
        if pending is not None and (pending.global_step, pending.epoch) != (global_step, epoch):
            self.flush()
            pending = None
        if pending is None:
            pending = StepBundles(global_step, train_step, epoch, self.topics.producers, self)
            self._pending = pending
        return pending

    def flush(self) -> None:
        """Deliver the pending step to every subscriber, producers before consumers."""
        bundles, self._pending = self._pending, None
        if bundles is None:
            return
        if self._checked != self.version:
            for sub in self._subscribers:
                self.topics.check(set(sub.kinds), repr(sub))
            self._checked = self.version
        self._delivering = bundles
        _DELIVERING.append(self)
        try:
            for sub in list(self._subscribers):
                bundles.deliver(sub)
        finally:
            _DELIVERING.pop()
            self._delivering = None

    def __repr__(self) -> str:
        return f"MessageBus({self.name!r}, subscribers={len(self._subscribers)})"


_DEFAULT: list[MessageBus] = []
_DELIVERING: list[MessageBus] = []  # the buses delivering a step now, innermost last


def get_default_bus() -> MessageBus:
    """The process-wide default bus, created on first use."""
    if not _DEFAULT:
        _DEFAULT.append(MessageBus("default"))
    return _DEFAULT[0]
