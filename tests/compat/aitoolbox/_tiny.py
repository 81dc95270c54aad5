"""Tiny aitoolbox-style models, data and loops shared by the compat.aitoolbox tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.aitoolbox import AbstractCallback, TrainLoop, TTModel

FEATURES = 3


def make_batches(count: int = 4, size: int = 4, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """``count`` ``(x, y)`` batches of a binary task."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count * size, FEATURES, generator=generator)
    targets = (inputs.sum(dim=1) > 0).long()
    return [(inputs[i : i + size], targets[i : i + size]) for i in range(0, count * size, size)]


class TinyNet(TTModel):
    """A two-layer classifier in the TTModel contract; metadata holds batch sizes."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.body = nn.Sequential(nn.Linear(FEATURES, 4), nn.Tanh(), nn.Linear(4, 2))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.body(inputs)

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> torch.Tensor:
        inputs, targets = batch_data
        return criterion(self(inputs.to(device)), targets.to(device))

    def get_predictions(self, batch_data: Any, device: torch.device) -> Any:
        inputs, targets = batch_data
        return self(inputs.to(device)).argmax(dim=1), targets, {"size": [len(targets)]}


def make_loop(
    model: nn.Module | None = None,
    lr: float = 0.1,
    train: Any = None,
    val: Any = "default",
    test: Any = None,
    loop_class: type[TrainLoop] = TrainLoop,
    momentum: float = 0.0,
    **options: Any,
) -> TrainLoop:
    """A quiet TrainLoop over tiny data with SGD and cross entropy."""
    model = TinyNet() if model is None else model
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    options.setdefault("print_epoch_losses", False)
    options.setdefault("device", "cpu")
    return loop_class(
        model,
        make_batches() if train is None else train,
        make_batches(2, seed=1) if val == "default" else val,
        test,
        optimizer,
        nn.CrossEntropyLoss(),
        **options,
    )


def hand_loop(
    model: nn.Module,
    batches: list[Any],
    epochs: int,
    lr: float = 0.1,
    accumulation: int = 1,
    clip: Any = None,
    momentum: float = 0.0,
) -> None:
    """The plain PyTorch loop a TrainLoop must reproduce bit for bit: aitoolbox's rule, every
    loss divided by ``accumulation`` (also in a short last window, which still steps)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for index, (inputs, targets) in enumerate(batches):
            start = index - index % accumulation
            window = min(accumulation, len(batches) - start)
            loss = criterion(model(inputs), targets)
            (loss / accumulation).backward()
            if index - start + 1 == window:
                if clip is not None:
                    clip(list(model.parameters()))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)


def same(a: nn.Module, b: nn.Module) -> bool:
    """Bit-identical parameters."""
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


class Trace(AbstractCallback):
    """Records every aitoolbox hook it sees as ``"<name>:<hook>"`` into a shared list."""

    def __init__(
        self,
        name: str,
        log: list[str],
        execution_order: int = 0,
        grads: bool = False,
        device_idx_execution: int | None = None,
    ) -> None:
        super().__init__(name, execution_order, device_idx_execution)
        self.log = log
        self.grads = grads

    def _add(self, hook: str) -> None:
        self.log.append(f"{self.callback_name}:{hook}")

    def on_train_loop_registration(self) -> None:
        self._add("registration")
        if self.grads:
            self.train_loop_obj.grad_cb_used = True

    def on_train_begin(self) -> None:
        self._add("train_begin")

    def on_epoch_begin(self) -> None:
        self._add("epoch_begin")

    def on_batch_begin(self) -> None:
        self._add("batch_begin")

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        self._add(f"after_gradient_update({optimizer_idx})")

    def on_after_optimizer_step(self) -> None:
        self._add("after_optimizer_step")

    def on_batch_end(self) -> None:
        self._add("batch_end")

    def on_epoch_end(self) -> None:
        self._add("epoch_end")

    def on_train_end(self) -> None:
        self._add("train_end")
