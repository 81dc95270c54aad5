"""ikkuna's ``Subscriber`` family, on unitrain's native subscribers.

Each class keeps ikkuna's constructor (``message_bus=`` defaults to the default bus, on
which it registers itself) and is at the same time a unitrain plugin: the same object works
with an ikkuna-style :class:`~unitrain.compat.ikkuna.Exporter` loop and inside a unitrain
``fit`` (``unitrain.bus.attach(trainer, sub)``). ``backend=`` plots every published value
(``"tb"``: TensorBoard, a host read per value as in ikkuna; ``None``: nothing, the default
here, because plotting syncs the device every step — use :class:`unitrain.bus.BusLog`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from unitrain.bus import subscribers as native
from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import TopicType
from unitrain.bus.messages import Message
from unitrain.bus.subscriber import Subscriber as NativeSubscriber
from unitrain.bus.subscription import Subscription, SynchronizedSubscription
from unitrain.compat.ikkuna.backends import Backend, make_backend
from unitrain.compat.ikkuna.messages import MessageBus, get_default_bus
from unitrain.errors import ConfigError

__all__ = [
    "CallbackSubscriber",
    "ConditionNumberSubscriber",
    "HistogramSubscriber",
    "LossSubscriber",
    "MeanSubscriber",
    "MessageMeanSubscriber",
    "NormSubscriber",
    "PlotSubscriber",
    "RatioSubscriber",
    "SpectralNormSubscriber",
    "Subscriber",
    "Subscription",
    "SumSubscriber",
    "SynchronizedSubscription",
    "TrainAccuracySubscriber",
    "VarianceSubscriber",
]


class _Compat:
    """Registers on an ikkuna bus, keeps ``message_bus``, and accepts single-message input."""

    message_bus: MessageBus

    def _join(self, message_bus: MessageBus | None) -> None:
        self.message_bus = get_default_bus() if message_bus is None else message_bus
        self.message_bus.register_subscriber(self)  # type: ignore[arg-type]

    def _add_publication(self, topic: str, type: TopicType = "DATA") -> None:
        NativeSubscriber._add_publication(self, topic, type)  # type: ignore[arg-type]
        bus = getattr(self, "message_bus", None)
        if bus is not None:
            bus.topics.register(topic, type, self)

    def process_messages(self, messages: Any) -> None:
        items = messages if isinstance(messages, list) else [messages]
        super().process_messages(items)  # type: ignore[misc]

    def receive_message(self, message: Message) -> None:
        """ikkuna's direct delivery of one message (outside a bus step)."""
        bundles = StepBundles(message.global_step, message.train_step, message.epoch)
        bundles.add(message)
        self.receive_bundles(bundles)  # type: ignore[attr-defined]


class Subscriber(_Compat, NativeSubscriber):
    """``Subscriber(subscriptions, message_bus=None)``; subclasses implement ``compute``."""

    def __init__(
        self, subscriptions: Sequence[Subscription] = (), message_bus: MessageBus | None = None
    ) -> None:
        NativeSubscriber.__init__(self, subscriptions=subscriptions)
        self._join(message_bus)


class PlotSubscriber(Subscriber):
    """``PlotSubscriber(subscriptions, message_bus, plot_config=None, backend=None)``."""

    def __init__(
        self,
        subscriptions: Sequence[Subscription] = (),
        message_bus: MessageBus | None = None,
        plot_config: dict[str, Any] | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(subscriptions, message_bus)
        self.plot_config = dict(plot_config or {})
        self.backend = make_backend(backend)


class _Plotting(_Compat):
    """Mixed into the named subscribers: registers on a bus and plots what they publish."""

    backend: Backend | None

    def _setup(self, message_bus: MessageBus | None, backend: Any) -> None:
        self.backend = make_backend(backend)
        self._join(message_bus)

    def publish(self, kind: str, data: Any, module_name: str | None = None) -> Message:
        message: Message = super().publish(kind, data, module_name)  # type: ignore[misc]
        if self.backend is not None and isinstance(data, torch.Tensor) and data.numel() == 1:
            name = kind if module_name is None else f"{kind}/{module_name}"
            self.backend.add_data(name, data, message.global_step)
        return message


class NormSubscriber(_Plotting, native.NormSubscriber):
    """``NormSubscriber(kind, order=2, message_bus=None, tag='default', subsample=1)``."""

    def __init__(
        self,
        kind: str,
        order: float = 2,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = None,
    ) -> None:
        native.NormSubscriber.__init__(self, kind, order, tag=tag, subsample=subsample)
        self._setup(message_bus, backend)


def _one_kind(cls: type[NativeSubscriber], doc: str, default_kind: str | None = None) -> type:
    class OneKind(_Plotting, cls):  # type: ignore[valid-type,misc]
        # ikkuna's matrix subscribers read ``default_kind`` unless given a kind; the others
        # need one.
        def __init__(
            self,
            kind: str | None = default_kind,
            message_bus: MessageBus | None = None,
            tag: str = "default",
            subsample: int = 1,
            backend: Any = None,
        ) -> None:
            if kind is None:
                raise ConfigError(f"{cls.__name__}(kind=...): name the message kind to read")
            cls.__init__(self, kind, tag=tag, subsample=subsample)
            self._setup(message_bus, backend)

    OneKind.__name__ = OneKind.__qualname__ = cls.__name__
    OneKind.__doc__ = doc
    return OneKind


MeanSubscriber = _one_kind(native.MeanSubscriber, "``MeanSubscriber(kind, message_bus=None)``.")
VarianceSubscriber = _one_kind(
    native.VarianceSubscriber, "``VarianceSubscriber(kind, message_bus=None)``."
)
SumSubscriber = _one_kind(native.SumSubscriber, "``SumSubscriber(kind, message_bus=None)``.")
MessageMeanSubscriber = _one_kind(
    native.MessageMeanSubscriber,
    "``MessageMeanSubscriber(kind, message_bus=None)``: mean over modules per step.",
)


class RatioSubscriber(_Plotting, native.RatioSubscriber):
    """``RatioSubscriber([kind1, kind2], absolute=True, message_bus=None)``: ‖k1‖ / ‖k2‖."""

    def __init__(
        self,
        kinds: Sequence[str],
        absolute: bool = True,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = None,
    ) -> None:
        if not absolute:
            raise ConfigError(
                "RatioSubscriber(absolute=False) is not supported: the ratio of two norms is "
                "never negative; drop the argument"
            )
        native.RatioSubscriber.__init__(self, kinds, tag=tag, subsample=subsample)
        self._setup(message_bus, backend)


SpectralNormSubscriber = _one_kind(
    native.SpectralNormSubscriber,
    "``SpectralNormSubscriber(kind, message_bus=None)``: power iteration, persistent u.",
    default_kind="weights",
)
ConditionNumberSubscriber = _one_kind(
    native.ConditionNumberSubscriber,
    "``ConditionNumberSubscriber(kind, message_bus=None)``.",
    default_kind="weights",
)


class HistogramSubscriber(_Plotting, native.HistogramSubscriber):
    """``HistogramSubscriber(kind, message_bus=None)``: ``(counts, edges)`` per module."""

    def __init__(
        self,
        kind: str,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = None,
        bins: int = 50,
    ) -> None:
        native.HistogramSubscriber.__init__(self, kind, bins, tag=tag, subsample=subsample)
        self._setup(message_bus, backend)


class _NoKind(_Plotting):
    """Mixed in before a native subscriber that takes no kind: ikkuna's ``(message_bus=None)``."""

    def __init__(
        self,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = None,
    ) -> None:
        # The next class in the MRO is the native subscriber (the mixins define no __init__).
        super().__init__(tag=tag, subsample=subsample)  # type: ignore[call-arg]
        self._setup(message_bus, backend)


class LossSubscriber(_NoKind, native.LossSubscriber):
    """``LossSubscriber(message_bus=None)``: the loss as META ``train_loss``."""


class TrainAccuracySubscriber(_NoKind, native.TrainAccuracySubscriber):
    """``TrainAccuracySubscriber(message_bus=None)``: META ``train_accuracy``."""


class CallbackSubscriber(_Compat, native.CallbackSubscriber):
    """``CallbackSubscriber(kinds, callback, message_bus=None)``: works (ikkuna's raised
    KeyError); ``callback(*data, global_step, train_step, epoch, key)``."""

    def __init__(
        self,
        kinds: str | Iterable[str],
        callback: Callable[..., Any],
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
    ) -> None:
        native.CallbackSubscriber.__init__(self, kinds, callback, tag=tag, subsample=subsample)
        self._join(message_bus)
