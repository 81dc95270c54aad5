"""The step's plan names a *lone optimizer* (``unitrain.core.plan``): the one torch optimizer
of a fit whose step no event surrounds, which the step then steps and clears without the
loop over optimizers. That is a shortcut, not a second behaviour: with or without it the
weights, the counters and the learning rates must come out the same, bit for bit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import unitrain as ut
from tests.conftest import Unsized, make_batches, make_model
from unitrain.core.plan import step_plans
from unitrain.core.schedule import ScheduledLR


def _sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


class AfterStep:
    """Listens after each optimizer step: the step loops over the optimizers again."""

    def __init__(self) -> None:
        self.calls = 0

    def on_after_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self.calls += 1


class Duck:
    """A duck-typed optimizer (aitoolbox accepted these): ``step`` and ``zero_grad``."""

    def __init__(self, params: Any) -> None:
        self.inner = torch.optim.SGD(params, lr=0.1)
        self.cleared = 0

    def step(self) -> None:
        self.inner.step()

    def zero_grad(self) -> None:
        self.cleared += 1
        self.inner.zero_grad(set_to_none=True)


def test_the_lone_optimizer_is_planned_only_when_nothing_surrounds_its_step() -> None:
    task = ut.Task(make_model(), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    assert step_plans(trainer.plugins, trainer.state)[1] is None  # no optimizer made yet
    trainer.fit(make_batches(3))
    (optimizer,) = trainer.state.optimizers
    assert step_plans(trainer.plugins, trainer.state)[1] is optimizer  # made: plan anew
    listener = AfterStep()
    trainer.add_plugin(listener)
    assert step_plans(trainer.plugins, trainer.state)[1] is None

    def two_optimizers(params: Any) -> list[torch.optim.Optimizer]:
        first, *rest = list(params)
        return [_sgd([first]), _sgd(rest)]

    two = ut.Task(make_model(), loss=nn.CrossEntropyLoss(), optimizer=two_optimizers)  # type: ignore[arg-type]
    trainer = ut.Trainer(two, max_epochs=1, device="cpu")
    trainer.fit(make_batches(2))
    assert len(trainer.state.optimizers) == 2
    assert step_plans(trainer.plugins, trainer.state)[1] is None


def test_a_duck_typed_optimizer_takes_the_loop_and_its_bare_zero_grad() -> None:
    made: list[Duck] = []

    def factory(params: Any) -> Duck:
        made.append(Duck(params))
        return made[-1]

    task = ut.Task(make_model(), loss=nn.CrossEntropyLoss(), optimizer=factory)  # type: ignore[arg-type]
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    trainer.fit(make_batches(3))
    assert step_plans(trainer.plugins, trainer.state)[1] is None
    assert made[0].cleared == 1 + 3  # once when made, then after each of the 3 steps
    assert trainer.state.global_step == 3


def _fit(
    listen: bool, accumulation: int, count: int, sized: bool, step_lr: bool
) -> tuple[dict[str, torch.Tensor], ut.State, list[float], int]:
    model = make_model()
    scheduler = None
    if step_lr:

        def scheduler(optimizer: torch.optim.Optimizer) -> ScheduledLR:
            decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
            return ScheduledLR(decay, interval="step")

    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=_sgd, scheduler=scheduler)
    listener = AfterStep()
    trainer = ut.Trainer(
        task,
        plugins=[listener] if listen else [],
        max_epochs=2,
        accumulation=accumulation,
        eval_every_epochs=None,
        device="cpu",
    )
    batches = make_batches(count)
    trainer.fit(batches if sized else Unsized(batches))
    lone = step_plans(trainer.plugins, trainer.state)[1]
    assert (lone is None) == listen
    rates = [group["lr"] for group in trainer.state.optimizers[0].param_groups]
    return model.state_dict(), trainer.state, rates, listener.calls


@settings(max_examples=12, deadline=None)
@given(
    accumulation=st.integers(1, 3),
    count=st.integers(1, 5),
    sized=st.booleans(),
    step_lr=st.booleans(),
)
def test_the_lone_optimizer_steps_as_the_loop_does(
    accumulation: int, count: int, sized: bool, step_lr: bool
) -> None:
    lone = _fit(False, accumulation, count, sized, step_lr)
    looped = _fit(True, accumulation, count, sized, step_lr)
    for name, value in looped[0].items():
        assert torch.equal(lone[0][name], value), name
    for counter in ("global_step", "micro_step", "epoch"):
        assert getattr(lone[1], counter) == getattr(looped[1], counter), counter
    assert lone[2] == looped[2]  # the step-interval scheduler stepped as often
    assert looped[3] == looped[1].global_step  # the listener saw every optimizer step
    assert lone[1].global_step == 2 * -(-count // accumulation)


class HeldLoss:
    """Records which loss the engine holds at each step's start and after its backward."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.at_start: list[Any] = []
        self.after_backward: list[tuple[Any, Any]] = []

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        self.at_start.append(self.trainer.held_loss)

    def on_after_backward(self, state: ut.State, result: ut.StepResult) -> None:
        self.after_backward.append((self.trainer.held_loss, result.loss))


def test_the_last_loss_is_held_until_the_next_forward_and_dropped_with_the_epoch() -> None:
    """As a hand-written loop's ``loss = ...``: the graph of the last step stays alive
    through the next forward (autograd reuses its gradient accumulators), is replaced right
    after it, and nothing outlives the epoch."""
    held = HeldLoss()
    task = ut.Task(make_model(), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    trainer = ut.Trainer(task, plugins=[held], max_epochs=2, device="cpu")
    held.trainer = trainer
    trainer.fit(make_batches(3))
    assert all(current is loss for current, loss in held.after_backward)
    losses = [loss for _, loss in held.after_backward]
    # each epoch's first step starts with nothing held, the others with the step before's
    assert held.at_start == [None, losses[0], losses[1], None, losses[3], losses[4]]
    assert trainer.held_loss is None


def test_a_failing_step_leaves_no_loss_held() -> None:
    class Boom:
        def on_after_backward(self, state: ut.State, result: ut.StepResult) -> None:
            raise RuntimeError("boom")

    task = ut.Task(make_model(), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    trainer = ut.Trainer(task, plugins=[Boom()], max_epochs=1, device="cpu")
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(make_batches(2))
    assert trainer.held_loss is None
