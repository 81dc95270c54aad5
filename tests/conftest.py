"""Shared test helpers: tiny data, a tiny task, and plugins that record what they see.

Fixtures: ``batches`` (four ``(x, y)`` batches of four samples), ``task`` (a linear
classifier with SGD) and ``recorder`` (a :class:`Recorder`). Tests that need the helpers
outside a fixture (Hypothesis tests, factories with arguments) import them:
``from tests.conftest import Recorder, make_batches, make_task``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings
from torch import nn

import unitrain as ut

# Shared 2-core machines make single examples slow now and then: no per-example deadline.
settings.register_profile("unitrain", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("unitrain")

FEATURES = 3
CLASSES = 2

Batch = tuple[torch.Tensor, torch.Tensor]


def make_batches(count: int = 4, size: int = 4, seed: int = 0) -> list[Batch]:
    """``count`` batches of ``size`` samples: ``FEATURES`` inputs, a binary label."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count * size, FEATURES, generator=generator)
    targets = (inputs.sum(dim=1) > 0).long()
    return [(inputs[i : i + size], targets[i : i + size]) for i in range(0, count * size, size)]


class Unsized:
    """Re-iterable batches without ``__len__``, like a loader over an IterableDataset."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self._batches = list(batches)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._batches)


def make_model(seed: int = 0) -> nn.Module:
    """A small MLP, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(FEATURES, 4), nn.Tanh(), nn.Linear(4, CLASSES))


def make_task(model: nn.Module | None = None, lr: float = 0.1, **options: Any) -> ut.Task:
    """A classification task with cross entropy, accuracy and SGD (``options`` override)."""
    settings: dict[str, Any] = {
        "loss": nn.CrossEntropyLoss(),
        "metrics": {"accuracy": ut.accuracy},
        "optimizer": lambda params: torch.optim.SGD(params, lr=lr),
    }
    settings.update(options)
    return ut.Task(make_model() if model is None else model, **settings)


class Recorder:
    """Records every event as a name (``"train_step_end"``, ``"eval_start:val"``) and a
    snapshot ``(name, epoch, batch_idx, global_step, micro_step)`` of the counters.

    ``stop_at``: ``(event name, occurrence, when)`` asks for a stop at the ``occurrence``-th
    (1-based) time that event fires. ``raise_at``: ``(event name, occurrence)`` raises
    ``RuntimeError("boom")`` there instead.
    """

    def __init__(
        self,
        order: int | None = None,
        stop_at: tuple[str, int, str] | None = None,
        raise_at: tuple[str, int] | None = None,
    ) -> None:
        if order is not None:
            self.order = order
        self.stop_at = stop_at
        self.raise_at = raise_at
        self.events: list[str] = []
        self.snapshots: list[tuple[str, int, int, int, int]] = []
        self.errors: list[BaseException] = []

    def names(self, *, without: Iterable[str] = ()) -> list[str]:
        """The recorded event names, leaving out those in ``without``."""
        skip = set(without)
        return [event for event in self.events if event.split(":")[0] not in skip]

    def _add(self, name: str, state: ut.State) -> None:
        self.events.append(name)
        self.snapshots.append(
            (name, state.epoch, state.batch_idx, state.global_step, state.micro_step)
        )
        count = self.events.count(name)
        if self.stop_at is not None and self.stop_at[:2] == (name, count):
            state.request_stop(self.stop_at[2], reason="test")  # type: ignore[arg-type]
        if self.raise_at is not None and self.raise_at == (name, count):
            raise RuntimeError("boom")

    def on_fit_start(self, state: ut.State) -> None:
        self._add("fit_start", state)

    def on_epoch_start(self, state: ut.State) -> None:
        self._add("epoch_start", state)

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        self._add("train_step_start", state)

    def on_after_backward(self, state: ut.State) -> None:
        self._add("after_backward", state)

    def on_before_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self._add("before_optimizer_step", state)

    def on_after_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self._add("after_optimizer_step", state)

    def on_train_step_end(self, state: ut.State, result: ut.StepResult) -> None:
        self._add("train_step_end", state)

    def on_epoch_end(self, state: ut.State) -> None:
        self._add("epoch_end", state)

    def on_fit_end(self, state: ut.State) -> None:
        self._add("fit_end", state)

    def on_eval_start(self, state: ut.State, split: str) -> None:
        self._add(f"eval_start:{split}", state)

    def on_eval_step_start(self, state: ut.State, split: str) -> None:
        self._add(f"eval_step_start:{split}", state)

    def on_eval_step_end(self, state: ut.State, split: str) -> None:
        self._add(f"eval_step_end:{split}", state)

    def on_eval_end(self, state: ut.State, split: str) -> None:
        self._add(f"eval_end:{split}", state)

    def on_predict_start(self, state: ut.State) -> None:
        self._add("predict_start", state)

    def on_predict_step_end(self, state: ut.State) -> None:
        self._add("predict_step_end", state)

    def on_predict_end(self, state: ut.State) -> None:
        self._add("predict_end", state)

    def on_exception(self, state: ut.State, error: BaseException) -> None:
        self.errors.append(error)
        self.events.append("exception")


class StageRecorder(Recorder):
    """A :class:`Recorder` that also records each stage call (and answers none of them)."""

    def make_optimizer(self, state: ut.State) -> None:
        self._add("make_optimizer", state)

    def make_scheduler(self, state: ut.State) -> None:
        self._add("make_scheduler", state)

    def run_prepare_batch(self, state: ut.State) -> None:
        self._add("run_prepare_batch", state)

    def run_forward(self, state: ut.State) -> None:
        self._add("run_forward", state)

    def run_backward(self, state: ut.State) -> None:
        self._add("run_backward", state)

    def run_optimizer_step(self, state: ut.State) -> None:
        self._add("run_optimizer_step", state)

    def run_eval_step(self, state: ut.State) -> None:
        self._add("run_eval_step", state)

    def run_predict_step(self, state: ut.State) -> None:
        self._add("run_predict_step", state)


def weights(model: nn.Module) -> list[torch.Tensor]:
    """Copies of every parameter, to compare before and after."""
    return [p.detach().clone() for p in model.parameters()]


def same_weights(model: nn.Module, before: list[torch.Tensor]) -> bool:
    """True when every parameter is bit-identical to ``before``."""
    return all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


@pytest.fixture
def batches() -> list[Batch]:
    return make_batches()


@pytest.fixture
def task() -> ut.Task:
    return make_task()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
