"""ikkuna's message classes and MessageBus API on unitrain's types."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from unitrain.compat import ikkuna
from unitrain.compat.ikkuna import (
    DATA_KINDS,
    META_KINDS,
    MessageBundle,
    MessageBus,
    ModuleMessage,
    NamedModule,
    NetworkMessage,
    Subscriber,
    Subscription,
    SynchronizedSubscription,
    get_default_bus,
)
from unitrain.compat.ikkuna.export.messages import MessageBus as ExportedBus
from unitrain.errors import ConfigError


def test_kinds_and_constructor_argument_order_are_ikkunas() -> None:
    assert "batch_finished" in META_KINDS and "weight_updates" in DATA_KINDS
    network = NetworkMessage("default", 5, 1, 0, "loss", torch.ones(()))
    assert (network.global_step, network.train_step, network.epoch, network.key) == (
        5,
        1,
        0,
        "META",
    )
    layer = torch.nn.Linear(1, 1)
    module = ModuleMessage("default", 5, 1, 0, "weights", NamedModule(layer, "fc"), layer.weight)
    assert module.key == NamedModule(layer, "fc") and module.module is layer
    module_of, name = module.key  # ikkuna's named tuple
    assert (module_of, name) == (layer, "fc")
    with pytest.raises(ConfigError, match="must carry data"):
        ModuleMessage("default", 5, 1, 0, "weights", NamedModule(layer, "fc"), None)
    bundle = MessageBundle("weights")
    bundle.add_message(module)
    assert bundle.complete() and bundle.key.module is layer
    assert ExportedBus is MessageBus and get_default_bus() is get_default_bus()


class Keep(Subscriber):
    """An ikkuna-style subscriber: builds its subscription with itself, implements compute."""

    def __init__(self, kinds: list[str], bus: MessageBus, synchronized: bool = False) -> None:
        cls = SynchronizedSubscription if synchronized else Subscription
        super().__init__([cls(self, kinds, "default", 1)], bus)
        self.items: list[Any] = []
        if synchronized:
            self._add_publication("kept", "META")

    def compute(self, message_or_bundle: Any) -> None:
        self.items.append(message_or_bundle)
        if isinstance(message_or_bundle, MessageBundle):
            step = message_or_bundle
            self.message_bus.publish_network_message(
                step.global_step, step.train_step, step.epoch, "kept", 1
            )


def test_bus_delivers_a_step_when_the_next_begins_or_on_flush() -> None:
    bus = MessageBus("manual")
    plain = Keep(["loss"], bus)
    synced = Keep(["loss", "network_output"], bus, synchronized=True)
    chained = Keep(["kept"], bus)
    bus.publish_network_message(0, 0, 0, "loss", torch.ones(()))
    bus.publish_network_message(0, 0, 0, "network_output", torch.ones(2))
    assert plain.items == []  # delivered when the step is complete
    bus.publish_network_message(1, 1, 0, "loss", torch.ones(()))
    assert len(plain.items) == 1 and len(synced.items) == 1 and len(chained.items) == 1
    bus.flush()
    assert len(plain.items) == 2 and len(synced.items) == 1  # step 1 has no output: incomplete
    with pytest.raises(ConfigError, match="not a registered topic"):
        bus.publish_network_message(2, 2, 0, "nope")
    bus.register_meta_topic("nope")
    bus.publish_network_message(2, 2, 0, "nope")
    bus.deregister_meta_topic("nope")
    assert "nope" not in bus.topics


def test_receive_message_delivers_directly() -> None:
    bus = MessageBus("direct")
    keep = Keep(["loss"], bus)
    keep.receive_message(NetworkMessage("default", 0, 0, 0, "loss", torch.ones(())))
    assert len(keep.items) == 1 and keep.items[0].kind == "loss"


def test_unknown_subscription_is_reported_at_the_first_delivery() -> None:
    bus = MessageBus("unknown")
    Keep(["never_published"], bus)
    bus.publish_network_message(0, 0, 0, "loss", torch.ones(()))
    with pytest.raises(ConfigError, match="never_published"):
        bus.flush()
    assert "Exporter" in ikkuna.__all__ and sorted(ikkuna.__all__) == sorted(set(ikkuna.__all__))
