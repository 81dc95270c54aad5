"""``MessageBus``: the native bus, a plugin that publishes each training step's data.

Use :func:`attach` (``bus = unitrain.bus.attach(trainer, NormSubscriber("activations"))``):
it registers the bus as the plugin ``"bus"`` and gives it the trainer, through which it
calls ``trainer.hooks.on_bus_bundles`` — the one hook every listener implements
(subscribers, or any plugin of any style).

Timeline of one training step (all in the same ``StepBundles``, published in this order;
module data is *recorded* by the taps during forward, backward and the optimizer step and
*published* at the step's end)::

    on_train_step_start  -> epoch_started (first step of an epoch), batch_started
    on_train_step_end    -> input_data, input_labels, network_output, loss,
                            activations, layer_gradients, weight_gradients, bias_gradients,
                            weights, biases (after the update),
                            weight_updates, bias_updates (this step's update, this step),
                            batch_finished; then on_bus_bundles(state, bundles)
    on_epoch_end         -> epoch_finished, in its own delivery (no user call needed)

Subscribers run (producers before consumers) just before the hook call, so any listener
sees the derived topics whatever its plugin order; a subscriber's own ``on_bus_bundles``
then has nothing left to do.

At ``on_fit_start`` the bus asks which plugins implement ``on_bus_bundles`` and which
kinds they want (a :class:`~unitrain.bus.Subscriber`'s subscriptions and reducers, or a
plugin's ``bus_kinds`` attribute; a plugin without one gets the network-level kinds). It
installs torch hooks only for the module kinds wanted: when nobody listens, nothing is installed
and every bus hook returns at once. Every handle is removed at ``on_fit_end`` and
``on_exception``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch

from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import MODULE_KINDS, MODULE_OUTPUT_KINDS, NETWORK_KINDS, TopicRegistry
from unitrain.bus.subscriber import OutputReducer, StepReducer, Subscriber
from unitrain.bus.taps import Taps, select_modules
from unitrain.core.batch import split_batch
from unitrain.errors import ConfigError, StateError, UnitrainError
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.core.engine import Engine as Trainer
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["MessageBus", "attach"]


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


class MessageBus:
    """Collects one training step's messages on the device and delivers them in one call.

    ``depth`` / ``module_filter`` choose the modules (see
    :func:`~unitrain.bus.taps.select_modules`); ``kinds`` adds kinds for listeners that do
    not declare their own.
    """

    name = "bus"

    def __init__(
        self,
        *,
        depth: int | None = None,
        module_filter: Iterable[type[torch.nn.Module]] | None = None,
        kinds: Iterable[str] = (),
    ) -> None:
        self.depth = depth
        self.module_filter = None if module_filter is None else tuple(module_filter)
        self.extra_kinds = set(kinds)
        self.topics = TopicRegistry()
        self.taps: Taps | None = None
        self.kinds: set[str] = set()
        self.trainer: Trainer | None = None
        self._bundles: StepBundles | None = None
        self._network: frozenset[str] = frozenset()
        self._listening = False
        self._epoch_started = False
        self._subscribers: list[Subscriber] = []
        self._reducers: dict[str, list[OutputReducer]] = {}
        self._step_reducers: dict[str, list[StepReducer]] = {}

    # ------------------------------------------------------------ wiring

    def bind(self, trainer: Trainer) -> None:
        """Give the bus the trainer whose hook relay it calls (``attach`` does this)."""
        self.trainer = trainer

    def _attached(self) -> Trainer:
        if self.trainer is None:
            raise StateError(
                "the message bus is not attached to a trainer; create it with "
                "unitrain.bus.attach(trainer, ...) rather than passing MessageBus() in plugins="
            )
        return self.trainer

    def listeners(self) -> list[object]:
        """Every registered plugin that implements ``on_bus_bundles``, in call order."""
        impls = self._attached().plugins.implementations("on_bus_bundles")
        return [impl.plugin for impl in impls]

    def _plan(self, model: torch.nn.Module | None) -> set[str]:
        self.topics = TopicRegistry()
        listeners = self.listeners()
        subscribers = [p for p in listeners if isinstance(p, Subscriber)]
        self._reducers, self._step_reducers = {}, {}
        for subscriber in subscribers:
            if model is not None:  # first: a subscriber may change its kinds here
                for kind, reduce in subscriber.output_reducers(model).items():
                    if kind not in MODULE_OUTPUT_KINDS:
                        raise ConfigError(
                            f"{subscriber!r}.output_reducers() gave a function for {kind!r}; "
                            f"only module outputs can be reduced as recorded: "
                            f"{sorted(MODULE_OUTPUT_KINDS)}"
                        )
                    self._reducers.setdefault(kind, []).append(reduce)
                for kind, read in subscriber.step_reducers(model).items():
                    if kind not in MODULE_KINDS:
                        raise ConfigError(
                            f"{subscriber!r}.step_reducers() gave a function for {kind!r}, "
                            f"which is not a module kind; use one of {sorted(MODULE_KINDS)}"
                        )
                    self._step_reducers.setdefault(kind, []).append(read)
        for subscriber in subscribers:
            for topic, kind in subscriber.topic_kinds.items():
                self.topics.register(topic, kind, subscriber)
        wanted = set(self.extra_kinds)
        network = set(self.extra_kinds & NETWORK_KINDS)
        for plugin in listeners:
            if isinstance(plugin, Subscriber):
                kinds = set(plugin.kinds)
                self.topics.check(kinds, repr(plugin))
            else:
                declared = getattr(plugin, "bus_kinds", None)
                kinds = set(NETWORK_KINDS) if declared is None else set(declared)
                self.topics.check(kinds, f"plugin {type(plugin).__name__} (bus_kinds)")
            wanted |= kinds
            network |= kinds & NETWORK_KINDS
        self.topics.check(wanted, "MessageBus(kinds=...)")
        self._listening = bool(listeners)
        self._network = frozenset(network)
        self._subscribers = subscribers
        return wanted

    # ------------------------------------------------------------ lifecycle

    def on_fit_start(self, state: State) -> None:
        self._teardown()
        self.kinds = self._plan(state.model)
        module_kinds = self.kinds & MODULE_KINDS
        if self._listening and (module_kinds or self._reducers or self._step_reducers):
            assert state.model is not None
            modules = select_modules(state.model, self.depth, self.module_filter)
            if not modules:
                raise ConfigError(
                    f"the bus found no module to tap in {type(state.model).__name__} with "
                    f"depth={self.depth}, module_filter={self.module_filter}; loosen them"
                )
            self.taps = Taps(
                modules, module_kinds, state.model, self._reducers, self._step_reducers
            )
            self.taps.install()

    def on_epoch_start(self, state: State) -> None:
        self._epoch_started = True

    @hookimpl(tryfirst=True)
    def on_train_step_start(self, state: State, batch: Any) -> None:
        if not self._listening:
            return
        bundles = StepBundles(
            state.micro_step, state.batch_idx, state.epoch, self.topics.producers, self
        )
        if self._epoch_started:
            self._epoch_started = False
            if "epoch_started" in self._network:
                bundles.publish("epoch_started", state.epoch)
        if "batch_started" in self._network:
            bundles.publish("batch_started", None)
        self._bundles = bundles
        if self.taps is not None:
            self.taps.recording = True

    def on_before_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        if self.taps is not None and optimizer_idx == 0:
            self.taps.snapshot()

    @hookimpl(trylast=True)
    def on_train_step_end(self, state: State, batch: Any, result: StepResult) -> None:
        bundles = self._bundles
        if bundles is None:
            return
        self._bundles = None
        network = self._network
        if "input_data" in network:
            bundles.publish("input_data", _detached(_inputs(batch)))
        if "input_labels" in network and result.targets is not None:
            bundles.publish("input_labels", _detached(result.targets))
        if "network_output" in network and result.outputs is not None:
            bundles.publish("network_output", _detached(result.outputs))
        if "loss" in network and result.loss is not None:
            bundles.publish("loss", result.loss.detach())
        if self.taps is not None:
            self.taps.recording = False
            self.taps.collect(bundles)
        if "batch_finished" in network:
            bundles.publish("batch_finished", None)
        self._deliver(state, bundles)

    def on_epoch_end(self, state: State) -> None:
        if not self._listening:
            return
        step = max(state.micro_step - 1, 0)
        bundles = StepBundles(step, state.batch_idx, state.epoch, self.topics.producers, self)
        # a short last window steps after its last batch: deliver its updates here
        reduced = self.taps is not None and self.taps.collect(bundles, parameters=False)
        if "epoch_finished" in self._network:
            bundles.publish("epoch_finished", state.epoch)
        if len(bundles) or reduced:
            self._deliver(state, bundles)

    def _deliver(self, state: State, bundles: StepBundles) -> None:
        # Subscribers run first (producers before consumers), so that every listener of the
        # hook, whatever its order, sees the derived topics too; their own on_bus_bundles
        # call then finds them delivered.
        for subscriber in self._subscribers:
            bundles.deliver(subscriber)
        self._attached().hooks.on_bus_bundles(state, bundles)

    def on_fit_end(self, state: State) -> None:
        self._teardown()

    def on_exception(self, state: State, error: BaseException) -> None:
        self._teardown()

    def _teardown(self) -> None:
        if self.taps is not None:
            self.taps.remove()
            self.taps = None
        self._bundles = None
        self._epoch_started = False

    # ------------------------------------------------------------ extras

    @property
    def handle_count(self) -> int:
        """How many torch hook handles the bus holds now (0 when nothing is installed)."""
        return 0 if self.taps is None else len(self.taps.handles)

    def __repr__(self) -> str:
        return f"MessageBus(depth={self.depth}, kinds={sorted(self.kinds)})"


def _inputs(batch: Any) -> Any:
    try:
        inputs, _ = split_batch(batch)
    except UnitrainError:
        return batch  # a minibatch or a custom batch: publish it whole
    return inputs


def attach(
    trainer: Trainer,
    *subscribers: object,
    depth: int | None = None,
    module_filter: Iterable[type[torch.nn.Module]] | None = None,
    kinds: Iterable[str] = (),
) -> MessageBus:
    """Register a :class:`MessageBus` on ``trainer`` (once) and the given subscribers.

    Returns the bus. Calling it again adds subscribers to the same bus (the options of the
    first call stay). Subscribers are plugins: they may equally be passed in ``plugins=``.
    """
    existing = trainer.plugins.get("bus")
    if isinstance(existing, MessageBus):
        bus = existing
    elif existing is not None:
        raise ConfigError(
            f"a plugin named 'bus' is already registered ({existing!r}) and is not a "
            "MessageBus; register it under another name"
        )
    else:
        bus = MessageBus(depth=depth, module_filter=module_filter, kinds=kinds)
        bus.bind(trainer)
        trainer.add_plugin(bus, name="bus")
    for subscriber in subscribers:
        trainer.add_plugin(subscriber)
    return bus
