"""One fit, four plugin styles, one order.

A plain :class:`unitrain.Trainer` trains a classifier on the shipped 8×8 digits with

- a native plugin (``Native``) and a native *wrapper* (``Timer``),
- a t3w side effect (``unitrain.compat.t3w.ISideEffect``),
- an aitoolbox callback (``unitrain.compat.aitoolbox.AbstractCallback``, ``execution_order=-10``),
- a message-bus listener (``unitrain.bus``: any plugin with ``on_bus_bundles``, ``order=5``),

and records which plugin ran when. Every style is a plugin on the one hook spec, so there
is one rule for all of them: wrappers outermost, then ascending ``order`` (aitoolbox's
``execution_order``), then registration order.

    python examples/mixed_styles/train.py              # 3 epochs, ~0.95 test accuracy
    python examples/mixed_styles/train.py --epochs 1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
import unitrain.bus as ub
from unitrain.compat import t3w
from unitrain.compat.aitoolbox import AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin
from unitrain.datasets import load_digits

Events = list[str]


class Timer:
    """Native wrapper: runs around every other implementation of the two hooks."""

    def __init__(self, events: Events) -> None:
        self.events = events

    @ut.hookimpl(wrapper=True)
    def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> Generator[None]:
        self.events.append("wrapper:step_end:enter")
        yield
        self.events.append("wrapper:step_end:exit")

    @ut.hookimpl(wrapper=True)
    def on_epoch_end(self, state: ut.State) -> Generator[None]:
        self.events.append("wrapper:epoch_end:enter")
        yield
        self.events.append("wrapper:epoch_end:exit")


class Native:
    """Native plugin, default ``order = 0``."""

    def __init__(self, events: Events) -> None:
        self.events = events

    def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
        self.events.append("native:step_end")

    def on_epoch_end(self, state: ut.State) -> None:
        self.events.append("native:epoch_end")


class T3wSideEffect(t3w.ISideEffect):
    """t3w side effect: order 0, so it runs after ``Native`` (registered earlier)."""

    def __init__(self, events: Events) -> None:
        self.events = events

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        self.events.append("t3w:step_end")

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        self.events.append("t3w:epoch_end")


class AitoolboxCallback(AbstractCallback):
    """aitoolbox callback with ``execution_order=-10``: first of the plain implementations."""

    def __init__(self, events: Events) -> None:
        super().__init__("aitoolbox-callback", execution_order=-10)
        self.events = events

    def on_batch_end(self) -> None:
        self.events.append("aitoolbox:step_end")

    def on_epoch_end(self) -> None:
        self.events.append("aitoolbox:epoch_end")


class BusListener:
    """Bus listener with ``order = 5``: hears ``on_bus_bundles`` (published by the bus
    plugin, order 0, during its ``on_train_step_end``) and ``on_epoch_end`` last."""

    order = 5
    bus_kinds = ("loss",)  # the network-level kinds this listener wants per step

    def __init__(self, events: Events) -> None:
        self.events = events
        self.losses: list[torch.Tensor] = []

    def on_bus_bundles(self, state: ut.State, bundles: ub.StepBundles) -> None:
        # Keep the tensor on its device: no host sync per step; read once after the fit.
        self.losses.extend(message.data for message in bundles.messages("loss", tag=None))
        self.events.append("bus:bundles")

    def on_epoch_end(self, state: ut.State) -> None:
        self.events.append("bus:epoch_end")


def make_loaders(batch_size: int, seed: int) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """1437 shuffled digits for training, the other 360 for testing."""
    images, labels = load_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images, labels = images[order], labels[order]
    train = TensorDataset(images[:1437], labels[:1437])
    test = TensorDataset(images[1437:], labels[1437:])
    shuffle = torch.Generator().manual_seed(seed + 1)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=shuffle),
        DataLoader(test, batch_size=360),
    )


def build(events: Events, epochs: int) -> tuple[ut.Trainer, BusListener]:
    """The trainer with its plugins of the four styles, registered in this order."""
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
    )
    trainer = ut.Trainer(
        task,
        plugins=[Timer(events), Native(events), T3wSideEffect(events)],
        max_epochs=epochs,
        eval_every_epochs=None,
        device="cpu",
    )
    callback = AitoolboxCallback(events)
    # An aitoolbox callback is wrapped by its adapter; the loop argument is only read by
    # the gradient and prediction hooks, which this callback does not override.
    trainer.add_plugin(make_plugin(callback, loop=None))  # type: ignore[arg-type]
    listener = BusListener(events)
    ub.attach(trainer, listener)  # registers the bus plugin ("bus", order 0), then the listener
    return trainer, listener


def first_step(events: Events) -> Events:
    """The events of the first training step (up to the wrapper's exit)."""
    return events[: events.index("wrapper:step_end:exit") + 1]


def last_epoch_end(events: Events) -> Events:
    """The events of the last ``on_epoch_end`` (from the wrapper's entry)."""
    start = len(events) - 1 - events[::-1].index("wrapper:epoch_end:enter")
    return events[start:]


def run(epochs: int, batch_size: int = 64, seed: int = 0) -> tuple[Events, float, list[float]]:
    """Fit, then test; returns the recorded events, the test accuracy and the bus losses."""
    torch.manual_seed(seed)
    train, test = make_loaders(batch_size, seed)
    events: Events = []
    trainer, listener = build(events, epochs)
    trainer.fit(train)
    accuracy = trainer.evaluate(test, split="test")["accuracy"]
    print("plugins in call order for on_epoch_end:")
    print(
        "  "
        + ", ".join(impl.plugin_name for impl in trainer.plugins.implementations("on_epoch_end"))
    )
    return events, accuracy, torch.stack(listener.losses).tolist()  # one transfer, after the fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one fit mixing four plugin styles")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.9, help="required test accuracy")
    args = parser.parse_args(argv)

    events, accuracy, losses = run(args.epochs, args.batch_size, args.seed)
    print("events of the first training step:")
    print("  " + ", ".join(first_step(events)))
    print("events of the last epoch end:")
    print("  " + ", ".join(last_epoch_end(events)))
    print(f"the bus listener saw {len(losses)} losses: {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"test accuracy {accuracy:.4f} (target {args.target})")
    return 0 if accuracy >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
