"""Subscriptions: which messages of a step reach a subscriber, and in what shape.

A :class:`Subscription` hands its subscriber the matching *messages*; a
:class:`SynchronizedSubscription` hands it one :class:`MessageBundle` per key holding all of
its kinds, and skips keys where a kind is missing (only complete bundles are delivered).
Both filter by tag and subsample: with ``subsample=n`` only every n-th occurrence of each
(key, kind) — or each key, for synchronized ones — is delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from unitrain.bus.messages import Message, MessageBundle
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.bus.bundles import StepBundles
    from unitrain.bus.subscriber import Subscriber

__all__ = ["Subscription", "SynchronizedSubscription"]


class Subscription:
    """Deliver messages of ``kinds`` with ``tag`` to ``subscriber``, every ``subsample``-th."""

    def __init__(
        self,
        subscriber: Subscriber | None,
        kinds: str | Iterable[str],
        tag: str | None = "default",
        subsample: int = 1,
    ) -> None:
        self.kinds: tuple[str, ...] = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if not self.kinds or not all(isinstance(k, str) and k for k in self.kinds):
            raise ConfigError(
                f"{type(self).__name__}: kinds must be non-empty strings, got {kinds!r}"
            )
        if isinstance(subsample, bool) or not isinstance(subsample, int) or subsample < 1:
            raise ConfigError(
                f"{type(self).__name__}: subsample must be an int >= 1, got {subsample!r}"
            )
        self.subscriber = subscriber
        self.tag = tag
        self.subsample = subsample
        self._counts: dict[Any, int] = {}

    def _take(self, counter_key: Any) -> bool:
        if self.subsample == 1:
            return True
        count = self._counts.get(counter_key, 0)
        self._counts[counter_key] = count + 1
        return count % self.subsample == 0

    def select(self, bundles: StepBundles) -> list[Any]:
        """The messages of this step this subscription delivers."""
        selected: list[Message] = []
        for kind in self.kinds:
            for message in bundles.messages(kind, self.tag):
                if self._take((message.key, kind)):
                    selected.append(message)
        return selected

    def handle(self, bundles: StepBundles) -> None:
        """Deliver this step's selection to the subscriber (nothing when it is empty)."""
        if self.subscriber is None:
            raise ConfigError(f"{self!r} has no subscriber; pass it to a Subscriber first")
        items = self.select(bundles)
        if items:
            self.subscriber.process_messages(items)

    def __repr__(self) -> str:
        name, kinds = type(self).__name__, list(self.kinds)
        return f"{name}(kinds={kinds}, tag={self.tag!r}, subsample={self.subsample})"


class SynchronizedSubscription(Subscription):
    """Deliver one complete bundle per key holding every one of ``kinds``."""

    def select(self, bundles: StepBundles) -> list[Any]:
        per_key: dict[str, MessageBundle] = {}
        first, *rest = self.kinds
        for message in bundles.messages(first, self.tag):
            bundle = MessageBundle(self.kinds)
            bundle.add_message(message)
            per_key[message.key] = bundle
        for kind in rest:
            for message in bundles.messages(kind, self.tag):
                bundle_or_none = per_key.get(message.key)
                if bundle_or_none is not None:
                    bundle_or_none.add_message(message)
        return [bundle for key, bundle in per_key.items() if bundle.complete() and self._take(key)]
