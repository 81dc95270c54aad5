"""ikkuna's ``Subscriber`` family, on unitrain's native subscribers.

Each class keeps ikkuna's constructor (``message_bus=`` defaults to the default bus, on
which it registers itself) and is at the same time a unitrain plugin: the same object works
with an ikkuna-style :class:`~unitrain.compat.ikkuna.Exporter` loop and inside a unitrain
``fit`` (``unitrain.bus.attach(trainer, sub)``).

As in ikkuna: ``publications`` is a copy shaped ``{'DATA' | 'META': [topics]}``; a plotting
subscriber keeps its :mod:`~unitrain.compat.ikkuna.visualization` backend in ``_backend``
(also ``backend``), TensorBoard (``'tb'``) unless told otherwise (by default only when the
tensorboard package is installed: without it nothing is plotted, with one warning), under
ikkuna's titles (``activations_norm2``, ``weight_updates_weights_ratio``, ``Loss``, ...) with
one line per module name; ``backend=None`` plots nothing (reading a value for a plot waits
for the device, so leave plots off where speed matters); a subscriber written against ikkuna's
base classes receives messages and bundles whose ``key`` is a ``NamedModule``.
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
from unitrain.compat.ikkuna.messages import MessageBus, get_default_bus, ikkuna_view
from unitrain.compat.ikkuna.visualization import (
    DEFAULT_BACKEND,
    Backend,
    NullBackend,
    get_backend,
)
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

    @property
    def publications(self) -> dict[str, Any]:
        """A copy of the published topics by type: ``{'DATA': [...], 'META': [...]}``."""
        shaped: dict[str, list[str]] = {}
        for topic, kind in self.topic_kinds.items():  # type: ignore[attr-defined]
            shaped.setdefault(kind, []).append(topic)
        return shaped

    def process_messages(self, messages: Any) -> None:
        items = messages if isinstance(messages, list) else [messages]
        super().process_messages(items)  # type: ignore[misc]

    def receive_message(self, message: Message) -> None:
        """ikkuna's direct delivery of one message (outside a bus step)."""
        bundles = StepBundles(message.global_step, message.train_step, message.epoch)
        bundles.add(message)
        self.receive_bundles(bundles)  # type: ignore[attr-defined]


class Subscriber(_Compat, NativeSubscriber):
    """``Subscriber(subscriptions, message_bus=None)``; subclasses implement ``compute``,
    which receives each message (or bundle) with ikkuna's ``NamedModule`` key."""

    def __init__(
        self, subscriptions: Sequence[Subscription] = (), message_bus: MessageBus | None = None
    ) -> None:
        NativeSubscriber.__init__(self, subscriptions=subscriptions)
        self._join(message_bus)

    def process_messages(self, messages: Any) -> None:
        for item in messages if isinstance(messages, list) else [messages]:
            self.compute(ikkuna_view(item))


class PlotSubscriber(Subscriber):
    """``PlotSubscriber(subscriptions, message_bus, plot_config, backend='tb')``:
    ``self._backend`` plots (``plot_config``: ``title``, ``xlabel``, ``ylabel``, ``ylims``)."""

    def __init__(
        self,
        subscriptions: Sequence[Subscription] = (),
        message_bus: MessageBus | None = None,
        plot_config: dict[str, Any] | None = None,
        backend: Any = DEFAULT_BACKEND,
    ) -> None:
        super().__init__(subscriptions, message_bus)
        self.plot_config = dict(plot_config or {})
        self._backend = get_backend(backend, self.plot_config)

    @property
    def backend(self) -> Backend:
        """The plotting backend (a ``NullBackend`` for ``backend=None``)."""
        return self._backend


class _Plotting(_Compat):
    """Mixed into the shipped subscribers: registers on a bus and plots what they publish,
    under ikkuna's title, one line per module (``label`` for network-level values)."""

    _backend: Backend
    label: str | None = None

    def _setup(
        self, message_bus: MessageBus | None, backend: Any, title: str, ylims: Any = None
    ) -> None:
        config = {"title": title, "xlabel": "Train step", "ylabel": title, "ylims": ylims}
        self._backend = get_backend(backend, config)
        self._join(message_bus)

    @property
    def backend(self) -> Backend:
        """The plotting backend (a ``NullBackend`` for ``backend=None``)."""
        return self._backend

    def publish(self, kind: str, data: Any, module_name: str | None = None) -> Message:
        message: Message = super().publish(kind, data, module_name)  # type: ignore[misc]
        if isinstance(self._backend, NullBackend):
            return message
        if isinstance(data, torch.Tensor) and data.numel() == 1:
            name = self.label or kind if module_name is None else str.__str__(module_name)
            self._backend.add_data(name, data, message.global_step)
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
        backend: Any = DEFAULT_BACKEND,
        ylims: Any = None,
    ) -> None:
        native.NormSubscriber.__init__(self, kind, order, tag=tag, subsample=subsample)
        order_name = int(order) if float(order).is_integer() else order
        self._setup(message_bus, backend, f"{kind}_norm{order_name}", ylims)


def _one_kind(
    cls: type[NativeSubscriber],
    doc: str,
    title: str,
    default_kind: str | None = None,
    label: str | None = None,
) -> type:
    class OneKind(_Plotting, cls):  # type: ignore[valid-type,misc]
        # ikkuna's matrix subscribers read ``default_kind`` unless given a kind; the others
        # need one.
        def __init__(
            self,
            kind: str | None = default_kind,
            message_bus: MessageBus | None = None,
            tag: str = "default",
            subsample: int = 1,
            ylims: Any = None,
            backend: Any = DEFAULT_BACKEND,
        ) -> None:
            if kind is None:
                raise ConfigError(f"{cls.__name__}(kind=...): name the message kind to read")
            cls.__init__(self, kind, tag=tag, subsample=subsample)
            self.label = None if label is None else label.format(kind=kind)
            self._setup(message_bus, backend, title.format(kind=kind), ylims)

    OneKind.__name__ = OneKind.__qualname__ = cls.__name__
    OneKind.__doc__ = doc
    return OneKind


MeanSubscriber = _one_kind(
    native.MeanSubscriber, "``MeanSubscriber(kind, message_bus=None)``.", "{kind}_mean"
)
VarianceSubscriber = _one_kind(
    native.VarianceSubscriber, "``VarianceSubscriber(kind, message_bus=None)``.", "{kind}_variance"
)
SumSubscriber = _one_kind(
    native.SumSubscriber, "``SumSubscriber(kind, message_bus=None)``.", "{kind}_sum"
)
MessageMeanSubscriber = _one_kind(
    native.MessageMeanSubscriber,
    "``MessageMeanSubscriber(kind, message_bus=None)``: mean over modules per step.",
    "message_means",
    label="{kind}_message_mean",
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
        ylims: Any = None,
        backend: Any = DEFAULT_BACKEND,
    ) -> None:
        if not absolute:
            raise ConfigError(
                "RatioSubscriber(absolute=False) is not supported: the ratio of two norms is "
                "never negative; drop the argument"
            )
        native.RatioSubscriber.__init__(self, kinds, tag=tag, subsample=subsample)
        self._setup(message_bus, backend, f"{kinds[0]}_{kinds[1]}_ratio", ylims)


SpectralNormSubscriber = _one_kind(
    native.SpectralNormSubscriber,
    "``SpectralNormSubscriber(kind, message_bus=None)``: power iteration, persistent u.",
    "{kind}_spectral_norm",
    default_kind="weights",
)
ConditionNumberSubscriber = _one_kind(
    native.ConditionNumberSubscriber,
    "``ConditionNumberSubscriber(kind, message_bus=None)``.",
    "{kind}_condition_number",
    default_kind="weights",
)


class HistogramSubscriber(_Plotting, native.HistogramSubscriber):
    """``HistogramSubscriber(kind, message_bus=None, backend='tb')``: each module's values go
    to the backend's histogram (``"<kind>_histogram: <module>"`` in TensorBoard); the
    ``(counts, edges)`` of each is published as ``<kind>_histogram``."""

    def __init__(
        self,
        kind: str,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        backend: Any = DEFAULT_BACKEND,
        bins: int = 50,
    ) -> None:
        native.HistogramSubscriber.__init__(self, kind, bins, tag=tag, subsample=subsample)
        self._setup(message_bus, backend, f"{kind}_histogram")

    def compute(self, message_or_bundle: Any) -> None:
        message: Message = message_or_bundle
        if not isinstance(self._backend, NullBackend) and message.module_name is not None:
            name = str.__str__(message.module_name)
            self._backend.add_histogram(name, message.data, message.global_step)
        super().compute(message)


class _NoKind(_Plotting):
    """Mixed in before a native subscriber that takes no kind: ikkuna's ``(message_bus=None)``."""

    title = ""

    def __init__(
        self,
        message_bus: MessageBus | None = None,
        tag: str = "default",
        subsample: int = 1,
        ylims: Any = None,
        backend: Any = DEFAULT_BACKEND,
    ) -> None:
        # The next class in the MRO is the native subscriber (the mixins define no __init__).
        super().__init__(tag=tag, subsample=subsample)  # type: ignore[call-arg]
        self._setup(message_bus, backend, self.title, ylims)


class LossSubscriber(_NoKind, native.LossSubscriber):
    """``LossSubscriber(message_bus=None)``: plots the loss (``Loss`` / ``loss``) and
    publishes it as META ``train_loss`` (ikkuna only plotted it)."""

    title, label = "Loss", "loss"


class TrainAccuracySubscriber(_NoKind, native.TrainAccuracySubscriber):
    """``TrainAccuracySubscriber(message_bus=None)``: META ``train_accuracy``."""

    title, label = "train_batch_accuracy", "train_batch_accuracy"


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

    def process_messages(self, messages: Any) -> None:
        for item in messages if isinstance(messages, list) else [messages]:
            self.compute(ikkuna_view(item))  # the callback's key is a NamedModule
