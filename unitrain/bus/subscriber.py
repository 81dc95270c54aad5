"""``Subscriber``: the base of every bus consumer, and a plugin of the one spec.

A subscriber is registered as a plugin; its ``on_bus_bundles`` receives each step's
:class:`~unitrain.bus.bundles.StepBundles` and delivers them through its subscriptions:
``process_messages(items)`` gets the selected messages (or bundles) of the step at once,
so a statistic can be computed for every module in one batched call; by default it calls
``compute(item)`` per item. ``publish`` adds a derived message to the step; derived topics
are declared with ``_add_publication`` so that consumers run after their producer.
A subscriber may implement any other hook too (``on_epoch_end`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import TopicType
from unitrain.bus.messages import Message, ModuleKey
from unitrain.bus.subscription import Subscription, SynchronizedSubscription
from unitrain.errors import ConfigError, StateError

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["OutputReducer", "StepReducer", "Subscriber"]

OutputReducer = Callable[[int, ModuleKey, torch.Tensor], None]
"""Called by the taps with ``(module index, module key, tensor)`` as a module output (or its
gradient) is recorded: see :meth:`Subscriber.output_reducers`."""

StepReducer = Callable[[list[ModuleKey], list[torch.Tensor]], None]
"""Called by the taps once per step with one kind's ``(module keys, tensors)``, every tapped
module that has data of that kind, in module order: see :meth:`Subscriber.step_reducers`."""


class Subscriber:
    """Consumes bus messages of some kinds and may publish derived topics.

    ``Subscriber(kinds, tag="default", subsample=1, synchronized=False)`` makes one
    subscription; pass ``subscriptions=[...]`` for several. Subclasses implement
    :meth:`compute` (one message or bundle) or :meth:`process_messages` (all of a step).
    """

    order: ClassVar[int] = 0

    def __init__(
        self,
        kinds: str | Iterable[str] = (),
        *,
        tag: str | None = "default",
        subsample: int = 1,
        synchronized: bool = False,
        subscriptions: Sequence[Subscription] = (),
    ) -> None:
        made: list[Subscription] = []
        wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if wanted:
            cls = SynchronizedSubscription if synchronized else Subscription
            made.append(cls(self, wanted, tag, subsample))
        for subscription in subscriptions:
            if subscription.subscriber is None:
                subscription.subscriber = self
            elif subscription.subscriber is not self:
                raise ConfigError(
                    f"{type(self).__name__}: subscription {subscription!r} belongs to "
                    f"{subscription.subscriber!r}; make one subscription per subscriber"
                )
            made.append(subscription)
        # Kept under a private name so an adapter can give ``subscriptions`` another shape
        # (ikkuna's is ``{kind: subscription}``) without breaking delivery.
        self._subscription_list: list[Subscription] = made
        self.topic_kinds: dict[str, TopicType] = {}
        self._bundles: StepBundles | None = None

    @property
    def publications(self) -> dict[str, TopicType]:
        """The topics this subscriber publishes, ``{topic: 'DATA' | 'META'}``."""
        return self.topic_kinds

    @property
    def subscriptions(self) -> list[Subscription]:
        """This subscriber's subscriptions, in the order they were made."""
        return self._subscription_list

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind or topic this subscriber consumes, in subscription order."""
        seen: dict[str, None] = {}
        for subscription in self._subscription_list:
            seen.update(dict.fromkeys(subscription.kinds))
        return tuple(seen)

    # ------------------------------------------------------------ the hook

    def on_bus_bundles(self, state: State, bundles: StepBundles) -> None:
        """Deliver the step's bundles (after the producers of this subscriber's inputs)."""
        bundles.deliver(self)

    def output_reducers(self, model: torch.nn.Module) -> Mapping[str, OutputReducer]:
        """Functions to call on module outputs the moment they are recorded, by kind.

        The bus asks every subscriber once per fit, before it reads :attr:`kinds` (so a
        subscriber may drop a kind from its subscriptions here). For ``"activations"`` a
        function gets each tapped module's output right after its forward (first call per
        step, training steps only; the live tensor, detached: read it now, it may be
        changed in place later); for ``"layer_gradients"`` the gradient of that output as
        backward computes it. The taps install their hooks for these kinds even when no
        subscription asks for their messages, and publish messages only when one does.
        Default: none.
        """
        return {}

    def step_reducers(self, model: torch.nn.Module) -> Mapping[str, StepReducer]:
        """Functions to call once per step with all of one module kind's data, by kind.

        The bus asks every subscriber once per fit, after :meth:`output_reducers` and before
        it reads :attr:`kinds`. For any module kind, a function gets, when the step is
        collected (at its end, where the kind's messages would be published), the keys of
        the tapped modules that have data of that kind and their tensors, in module order:
        the very tensors the messages would carry, valid only during the call. It is a
        message-free path to a whole step of one kind: a subscriber that reduces a kind
        here should drop it from its subscriptions (no message is made for a kind that
        only reducers want) and do what it does with the step in :meth:`receive_bundles`,
        which the step's delivery calls right after. Default: none.
        """
        return {}

    # ------------------------------------------------------------ delivery

    def receive_bundles(self, bundles: StepBundles) -> None:
        """Run every subscription on ``bundles``; called once per step by the bundles."""
        self._bundles = bundles
        try:
            for subscription in self._subscription_list:
                subscription.handle(bundles)
        finally:
            self._bundles = None

    def process_messages(self, items: list[Any]) -> None:
        """Handle one step's selected messages (or bundles); default: ``compute`` each."""
        for item in items:
            self.compute(item)

    def compute(self, message_or_bundle: Any) -> None:
        """Handle one message (plain subscription) or bundle (synchronized subscription)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute(message_or_bundle) or "
            "process_messages(items)"
        )

    # ------------------------------------------------------------ publishing

    def _add_publication(self, topic: str, type: TopicType = "DATA") -> None:
        """Declare that this subscriber publishes ``topic`` ('DATA' per module, or 'META')."""
        if type not in ("DATA", "META"):
            raise ConfigError(f"_add_publication({topic!r}): type must be 'DATA' or 'META'")
        self.topic_kinds[topic] = type

    def publish(self, kind: str, data: Any, module_name: str | None = None) -> Message:
        """Publish derived data into the step being delivered (only during delivery)."""
        if self._bundles is None:
            raise StateError(
                f"{type(self).__name__}.publish({kind!r}) was called outside a delivery; "
                "publish from compute() or process_messages()"
            )
        if kind not in self.topic_kinds:
            raise ConfigError(
                f"{type(self).__name__} publishes {kind!r} without declaring it; call "
                f"self._add_publication({kind!r}) in __init__"
            )
        return self._bundles.publish(kind, data, module_name)

    @property
    def current_bundles(self) -> StepBundles | None:
        """The step being delivered, during ``process_messages`` / ``compute``."""
        return self._bundles

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kinds={list(self.kinds)})"
