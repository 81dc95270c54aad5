"""``Subscriber.subscriptions`` is ikkuna's ``{kind: subscription}``; each subscription counts
the messages of each (module, kind) — or network kind — it has seen, and ``compute`` sees the
count from before its own step, as ikkuna's subscribers relied on."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.ikkuna.export import Exporter
from unitrain.compat.ikkuna.export.messages import MessageBundle, MessageBus
from unitrain.compat.ikkuna.export.subscriber import (
    NormSubscriber,
    Subscriber,
    Subscription,
    SynchronizedSubscription,
)


class EveryThirdStep(Subscriber):
    """ikkuna's pattern (its test-accuracy and Hessian subscribers): act when the
    ``batch_finished`` counter is a multiple of n."""

    def __init__(self, bus: MessageBus) -> None:
        super().__init__(
            [
                Subscription(self, ["batch_finished"]),
                SynchronizedSubscription(self, ["weights", "weight_gradients"], subsample=2),
            ],
            bus,
        )
        self.acted: list[int] = []
        self.bundles: list[int] = []

    def compute(self, message_or_bundle: Any) -> None:
        if isinstance(message_or_bundle, MessageBundle):
            self.bundles.append(message_or_bundle.global_step)
        elif self.subscriptions["batch_finished"].counter.get("batch_finished", 0) % 3 == 0:
            self.acted.append(message_or_bundle.global_step)


def _train(steps: int, bus: MessageBus) -> nn.Module:
    torch.manual_seed(0)
    exporter = Exporter(depth=-1, message_bus=bus)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    exporter.set_model(model)
    exporter.add_modules(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().mean().backward()
        optimizer.step()
    return model


def test_subscriptions_are_by_kind_and_count_as_ikkuna() -> None:
    bus = MessageBus("counter")
    subscriber = EveryThirdStep(bus)
    model = _train(7, bus)
    subscriptions = subscriber.subscriptions
    assert sorted(subscriptions) == ["batch_finished", "weight_gradients", "weights"]
    assert subscriptions["weights"] is subscriptions["weight_gradients"]
    assert subscriptions["weights"].kinds == ["weights", "weight_gradients"]
    assert subscriptions["weights"].subsample == 2 and subscriptions["weights"]._subsample == 2
    assert subscriptions["batch_finished"].tag == "default"
    assert subscriber.acted == [0, 3, 6]  # the counter read in compute starts at 0
    assert subscriber.bundles == [0, 0, 2, 2, 4, 4, 6, 6]  # two layers, every second step
    assert subscriptions["batch_finished"].counter == {"batch_finished": 7}
    counter = subscriptions["weights"].counter
    named = {(key.name, kind): count for (key, kind), count in counter.items()}
    layers = {(name, kind) for name in ("/linear0", "/linear1") for kind in subscriptions}
    assert set(named) == layers - {(n, "batch_finished") for n in ("/linear0", "/linear1")}
    assert set(named.values()) == {7}  # every message counts, subsampled or not
    first_key = next(iter(counter))[0]
    assert first_key.module is model[0]  # the key is ikkuna's NamedModule
    counter.clear()  # a copy, as ikkuna's
    assert subscriptions["weights"].counter != {}


def test_a_shipped_subscriber_has_them_too() -> None:
    bus = MessageBus("shipped")
    norm = NormSubscriber("weights", message_bus=bus, backend=None, subsample=3)
    _train(4, bus)
    (kind,) = norm.subscriptions
    view = norm.subscriptions[kind]
    assert kind == "weights" and view.subsample == 3
    assert sorted(v for v in view.counter.values()) == [4, 4]
    assert norm.kinds == ("weights",)  # unitrain's view of the same subscriptions still works
