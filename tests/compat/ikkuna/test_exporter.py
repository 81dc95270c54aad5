"""An ikkuna-style script (Exporter + subscribers + its own loop) with only imports changed."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import torch
from torch import nn

from tests.bus.conftest import make_trainer, tiny_batches
from unitrain.bus import attach
from unitrain.compat.ikkuna import (
    CallbackSubscriber,
    Exporter,
    MessageBus,
    MessageMeanSubscriber,
    NormSubscriber,
    RatioSubscriber,
    TestAccuracySubscriber,
    TrainAccuracySubscriber,
    freeze_module,
)


def build(bus: MessageBus) -> tuple[nn.Module, Exporter, nn.Module]:
    """What an ikkuna user wrote: build the model and wire the exporter."""
    torch.manual_seed(0)
    exporter = Exporter(depth=-1, message_bus=bus)
    model = nn.Sequential(exporter(nn.Linear(6, 8)), nn.ReLU(), exporter(nn.Linear(8, 2)))
    exporter.set_model(model)
    loss_fn = nn.CrossEntropyLoss()
    exporter.set_loss(loss_fn)
    return model, exporter, loss_fn


def train(model: nn.Module, exporter: Exporter, loss_fn: nn.Module, epochs: int) -> None:
    """The user's own loop, unchanged."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for x, y in tiny_batches():
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        exporter.epoch_finished()


def ikkuna_script(bus: MessageBus, epochs: int = 2) -> tuple[nn.Module, Exporter]:
    model, exporter, loss_fn = build(bus)
    train(model, exporter, loss_fn, epochs)
    return model, exporter


def test_ikkuna_script_end_to_end_with_fixed_step_counters() -> None:
    bus = MessageBus("script")
    seen: list[tuple[Any, ...]] = []
    NormSubscriber("activations", message_bus=bus)
    MessageMeanSubscriber("activations_norm2", message_bus=bus)
    RatioSubscriber(["weight_updates", "weights"], message_bus=bus)
    TrainAccuracySubscriber(message_bus=bus)
    for kind in (
        "batch_finished",
        "epoch_finished",
        "activations_norm2_message_mean",
        "train_accuracy",
    ):
        CallbackSubscriber(
            [kind],
            lambda d, gs, ts, ep, key, kind=kind: seen.append((kind, gs, ts, ep)),
            message_bus=bus,
        )
    ratios: list[tuple[int, str]] = []
    CallbackSubscriber(
        ["weight_updates_weights_ratio"],
        lambda r, gs, ts, ep, key: ratios.append((gs, key.name)),
        message_bus=bus,
    )
    model, exporter = ikkuna_script(bus)
    finished = [s for s in seen if s[0] == "batch_finished"]
    # batch_finished comes with its own batch, also for the last one; every epoch starts at 0
    assert [(gs, ts, ep) for _, gs, ts, ep in finished] == [(s, s % 4, s // 4) for s in range(8)]
    assert [s[1:] for s in seen if s[0] == "epoch_finished"] == [(3, 3, 0), (7, 3, 1)]
    assert len([s for s in seen if s[0] == "activations_norm2_message_mean"]) == 8
    assert len([s for s in seen if s[0] == "train_accuracy"]) == 8
    # updates of step s arrive in step s (ikkuna #31), for both tracked Linear layers
    assert ratios[:2] == [(0, "/linear0"), (0, "/linear1")]  # ikkuna's names
    exporter.close()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_subscribers_created_after_the_exporter_and_in_any_order() -> None:
    bus = MessageBus("late")
    values: list[float] = []
    CallbackSubscriber(["weights_norm2"], lambda v, *rest: values.append(float(v)), message_bus=bus)
    NormSubscriber("weights", message_bus=bus)  # producer created after its consumer
    ikkuna_script(bus, epochs=1)
    assert len(values) == 8 and all(v > 0 for v in values)


def test_test_accuracy_runs_the_test_set_every_frequency_batches() -> None:
    bus = MessageBus("test")
    x, y = torch.cat([b[0] for b in tiny_batches()]), torch.cat([b[1] for b in tiny_batches()])
    accuracies: list[tuple[int, float]] = []
    model, exporter, loss_fn = build(bus)
    dataset = torch.utils.data.TensorDataset(x, y)
    TestAccuracySubscriber(dataset, model.forward, 16, frequency=4, message_bus=bus)
    CallbackSubscriber(
        ["test_accuracy"], lambda a, gs, *rest: accuracies.append((gs, float(a))), message_bus=bus
    )
    expected: list[tuple[int, float]] = []

    def check(_: Any, gs: int, *rest: Any) -> None:  # the same weights the pass saw
        if gs % 4 == 0:
            with torch.no_grad():
                expected.append((gs, (model(x).argmax(-1) == y).float().mean().item()))

    CallbackSubscriber(["batch_finished"], check, message_bus=bus)
    train(model, exporter, loss_fn, epochs=2)  # 8 batches
    # ikkuna evaluated at train steps 0, frequency, 2 * frequency, ...
    assert [gs for gs, _ in accuracies] == [0, 4]
    assert accuracies == [(gs, pytest.approx(value)) for gs, value in expected]
    assert model.training  # the pass put the model back in training mode


def test_freeze_module_really_freezes() -> None:
    bus = MessageBus("freeze")
    torch.manual_seed(0)
    exporter = Exporter(depth=-1, message_bus=bus)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    exporter.set_model(model)
    exporter.freeze_module(model[0])
    before = model[0].weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    assert torch.equal(model[0].weight, before) and model[0].weight.grad is None
    assert freeze_module(model[1])[0].requires_grad is False
    exporter.close()


def test_same_subscribers_work_inside_a_unitrain_fit() -> None:
    bus = MessageBus("unused")
    values: list[tuple[int, str]] = []
    norm = NormSubscriber("weight_gradients", message_bus=bus)
    callback = CallbackSubscriber(
        ["weight_gradients_norm2"],
        lambda v, gs, ts, ep, key: values.append((gs, key.name)),
        message_bus=bus,
    )
    trainer = make_trainer()
    attach(trainer, callback, norm)
    trainer.fit(tiny_batches())
    assert values == [(s, name) for s in range(4) for name in ("0", "2")]


def test_add_modules_rejects_other_things_and_names_modules() -> None:
    exporter = Exporter(depth=1, message_bus=MessageBus("names"))
    with pytest.raises(ValueError, match=r"nn\.Module"):
        exporter.add_modules(3)
    inner = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Linear(1, 1))
    exporter.add_modules(("features", inner))
    exporter(nn.Linear(2, 2), recursive=False)
    # ikkuna's names: a recursive add drops the given root name; a single module keeps its
    # class name
    assert [k.name for k in exporter.named_modules] == ["/conv2d0", "/linear0", "linear"]
    assert len(exporter.modules) == 3


def test_exporter_hooks_go_away_with_the_exporter() -> None:
    import torch.optim.optimizer as optimizer_module

    hooks = optimizer_module._global_optimizer_post_hooks
    gc.collect()  # exporters other tests dropped may still await collection: not ours to count
    before = set(hooks)
    exporter = Exporter(depth=-1, message_bus=MessageBus("gc"))
    exporter.set_model(nn.Linear(2, 2))
    added = set(hooks) - before
    assert len(added) == 1
    del exporter
    gc.collect()
    assert not added & set(hooks)
