"""ikkuna's face of a subscription: ``subscriber.subscriptions[kind]``.

ikkuna's ``Subscriber.subscriptions`` is ``{kind: Subscription}``, and its subscribers read
``subscriptions[kind].counter`` (how many messages of each module and kind the subscription
has seen) to act every n-th step. unitrain's subscriptions are a list and count only when
they subsample, so each compat subscriber wraps its subscriptions in this view, which counts
as ikkuna did: the key is ``(NamedModule, kind)`` for a module message and ``kind`` for a
network one; every message of the subscription's kinds and tag counts (subsampled or not),
and a step's messages are counted once the step has been delivered, so ``compute`` sees the
count before its own message, as ikkuna's did (0 for the first ``batch_finished``).
"""

from __future__ import annotations

from typing import Any

from unitrain.bus.bundles import StepBundles
from unitrain.bus.subscription import Subscription
from unitrain.compat.ikkuna.messages import named_key

__all__ = ["SubscriptionView"]


class SubscriptionView:
    """One subscription as ikkuna showed it: ``kinds``, ``tag``, ``subsample``, ``counter``;
    the unitrain subscription itself is ``subscription``."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self._counter: dict[Any, int] = {}

    @property
    def kinds(self) -> list[str]:
        """The kinds this subscription delivers (a list, as ikkuna's)."""
        return list(self.subscription.kinds)

    @property
    def tag(self) -> str | None:
        return self.subscription.tag

    @property
    def subsample(self) -> int:
        return self.subscription.subsample

    # ikkuna kept these private but its own subscribers read them.
    _tag = tag
    _subsample = subsample

    @property
    def counter(self) -> dict[Any, int]:
        """A copy: ``{(NamedModule, kind) or kind: messages seen}``."""
        return dict(self._counter)

    def count(self, bundles: StepBundles) -> None:
        """Count the messages of one delivered step."""
        for kind in self.subscription.kinds:
            for message in bundles.messages(kind, self.subscription.tag):
                key = kind if message.module_name is None else (named_key(message.key), kind)
                self._counter[key] = self._counter.get(key, 0) + 1

    def __repr__(self) -> str:
        return f"SubscriptionView({self.subscription!r}, counter={self._counter!r})"
