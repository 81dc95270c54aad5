"""The hook order of per-optimizer and manual optimization, with the counters beside each
event, and bad input (each refused with a message naming the culprit and the fix)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import unitrain as ut
from tests.core.gan import LOSSES, Batch, disc_loss, gen_loss, make_batches, make_gan
from tests.core.gan import make_optimizers as gan_optimizers
from tests.core.test_multi_step import ManualGan, gan_task, manual_task
from unitrain.core.multi_step import ManualOptimization
from unitrain.distributed.plugin import check_optimization
from unitrain.distributed.strategy import DDPStrategy, FSDPStrategy
from unitrain.hooks.markers import hookimpl

Event = tuple[Any, ...]


class StepRecorder:
    """Every training-step hook as ``(name, optimizer index, micro_step, global_step)``;
    ``run_forward`` also records which of the two models require grad while it runs."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _add(self, state: ut.State, name: str, index: int | None, *extra: Any) -> None:
        self.events.append((name, index, state.micro_step, state.global_step, *extra))

    def on_train_step_start(self, state: ut.State) -> None:
        self._add(state, "start", state.optimizer_idx)

    @hookimpl(tryfirst=True)
    def run_forward(self, state: ut.State) -> None:
        model = state.model
        assert model is not None
        grads = tuple(
            all(p.requires_grad for p in part.parameters()) for part in (model.disc, model.gen)
        )
        self._add(state, "forward", state.optimizer_idx, grads)

    @hookimpl(tryfirst=True)
    def run_backward(self, state: ut.State) -> None:
        self._add(state, "backward", state.optimizer_idx)

    def on_after_backward(self, state: ut.State) -> None:
        self._add(state, "after_backward", state.optimizer_idx)

    def on_before_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self._add(state, "before_step", optimizer_idx)

    def on_after_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self._add(state, "after_step", optimizer_idx)

    def on_train_step_end(self, state: ut.State, result: Any) -> None:
        self._add(state, "end", state.optimizer_idx, sorted(result.losses))


def test_per_optimizer_hook_order_with_accumulation() -> None:
    recorder = StepRecorder()
    task = gan_task()
    ut.Trainer(task, plugins=[recorder], device="cpu", max_epochs=1, accumulation=2).fit(
        make_batches(count=2)
    )
    disc, gen = (True, False), (False, True)  # only the optimizer's own model needs grad
    names = ["disc", "gen"]
    assert recorder.events == [
        # micro-step 0: the window goes on, nothing steps
        ("start", None, 0, 0),
        ("forward", 0, 0, 0, disc),
        ("backward", 0, 0, 0),
        ("after_backward", 0, 1, 0),
        ("forward", 1, 1, 0, gen),
        ("backward", 1, 1, 0),
        ("after_backward", 1, 1, 0),
        ("end", None, 1, 0, names),
        # micro-step 1 ends the window: each optimizer steps right after its own backward
        ("start", None, 1, 0),
        ("forward", 0, 1, 0, disc),
        ("backward", 0, 1, 0),
        ("after_backward", 0, 2, 0),
        ("before_step", 0, 2, 0),
        ("after_step", 0, 2, 0),
        ("forward", 1, 2, 0, gen),
        ("backward", 1, 2, 0),
        ("after_backward", 1, 2, 0),
        ("before_step", 1, 2, 0),
        ("after_step", 1, 2, 0),
        ("end", None, 2, 1, names),
    ]
    assert all(p.requires_grad for p in task.model.parameters())  # switched back on


def test_manual_hook_order() -> None:
    recorder = StepRecorder()
    ut.Trainer(manual_task(), plugins=[recorder], device="cpu", max_epochs=1).fit(
        make_batches(count=1)
    )
    both = (True, True)  # manual mode changes no requires_grad by itself
    assert recorder.events == [
        ("start", None, 0, 0),
        ("forward", None, 0, 0, both),  # manual_step runs inside run_forward:
        ("backward", None, 0, 0),  # manual.backward = the run_backward stage
        ("before_step", 0, 0, 0),  # manual.step(0)
        ("after_step", 0, 0, 0),
        ("backward", None, 0, 0),
        ("before_step", 1, 0, 0),
        ("after_step", 1, 0, 0),
        ("after_backward", None, 1, 0),  # once, after the task's step
        ("end", None, 1, 1, []),
    ]


def test_manual_step_outside_the_window_end_does_nothing() -> None:
    stepped: list[bool] = []

    class Recording(ManualGan):
        def manual_step(self, batch: Batch, manual: ManualOptimization) -> None:
            manual.backward(disc_loss(self.model, batch))
            stepped.append(manual.step(0))

    model = make_gan()
    state = ut.Trainer(
        Recording(model, optimizer=gan_optimizers(model)),
        device="cpu",
        max_epochs=1,
        accumulation=2,
    ).fit(make_batches(count=3))
    assert stepped == [False, True, True]  # windows of 2 and (the epoch's last) 1
    assert state.global_step == 2


def test_a_manual_window_without_a_step_is_not_counted() -> None:
    class Idle(ManualGan):
        def manual_step(self, batch: Batch, manual: ManualOptimization) -> torch.Tensor:
            return disc_loss(self.model, batch).detach()  # a logged value only

    model = make_gan()
    before = [p.clone() for p in model.parameters()]
    state = ut.Trainer(
        Idle(model, optimizer=gan_optimizers(model)), device="cpu", max_epochs=1
    ).fit(make_batches(count=2))
    assert (state.global_step, state.micro_step) == (0, 2)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("losses", "match"),
    [
        (
            {"disc": disc_loss, "critic": gen_loss},
            r"'critic' names no optimizer.*\['disc', 'gen'\]",
        ),
        ({"disc": disc_loss}, r"no loss for optimizer 'gen'"),
        ({0: disc_loss, 1: gen_loss}, r"0 names no optimizer"),
        ({}, r"give one loss per optimizer"),
    ],
)
def test_a_loss_mapping_must_name_each_optimizer_once(losses: Any, match: str) -> None:
    with pytest.raises(ut.ConfigError, match=match):
        gan_task(optimizer_losses=losses)


def test_indices_are_checked_against_a_plugins_optimizers_at_fit_start() -> None:
    model = make_gan()

    class Maker:
        def make_optimizer(self) -> list[torch.optim.Optimizer]:
            return list(gan_optimizers(model).values())

    task = ut.Task(model, optimizer_losses={0: disc_loss, 2: gen_loss})
    before = [p.clone() for p in model.parameters()]
    trainer = ut.Trainer(task, plugins=[Maker()], device="cpu", max_epochs=1)
    with pytest.raises(ut.ConfigError, match=r"2 names no optimizer.*0\.\.1"):
        trainer.fit(make_batches(count=1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": disc_loss}, r"loss= / losses= are the one loss of automatic"),
        ({"manual_optimization": True}, r"exclude each other"),
        ({"optimizer": {"disc": 0.1}}, r"optimizer\['disc'\] is float, not an optimizer"),
        ({"optimizer": []}, r"non-empty sequence of torch optimizers"),
    ],
)
def test_bad_settings_for_several_optimizers(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ut.ConfigError, match=match):
        gan_task(**kwargs)


def _manual(step: Any) -> ut.Task:
    class Task(ut.Task):
        manual_optimization = True
        manual_step = step

    model = make_gan()
    return Task(model, optimizer=gan_optimizers(model))


def test_a_manual_step_returning_an_unbackpropagated_loss_is_refused() -> None:
    def step(self: ut.Task, batch: Batch, manual: ManualOptimization) -> torch.Tensor:
        return disc_loss(self.model, batch)  # forgot manual.backward / manual.step

    with pytest.raises(ut.StageError, match=r"called manual.backward\(...\) not once"):
        ut.Trainer(_manual(step), device="cpu", max_epochs=1).fit(make_batches(count=1))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.step(2), r"index 2 is out of range.*indices 0..1"),
        (lambda m: m.step(torch.optim.SGD([torch.zeros(1)], 0.1)), "not one of the trainer's"),
        (lambda m: m.backward(1.0), "expected a tensor"),
    ],
)
def test_bad_manual_calls(call: Any, match: str) -> None:
    def step(self: ut.Task, batch: Batch, manual: ManualOptimization) -> None:
        call(manual)

    with pytest.raises(ut.StageError, match=match):
        ut.Trainer(_manual(step), device="cpu", max_epochs=1).fit(make_batches(count=1))


def test_the_manual_handle_expires_with_its_step() -> None:
    kept: list[ManualOptimization] = []

    def step(self: ut.Task, batch: Batch, manual: ManualOptimization) -> None:
        kept.append(manual)

    ut.Trainer(_manual(step), device="cpu", max_epochs=1).fit(make_batches(count=1))
    with pytest.raises(ut.StageError, match="after its training step ended"):
        kept[0].step(0)


def test_manual_optimization_without_manual_step() -> None:
    model = make_gan()
    task = ut.Task(model, optimizer=gan_optimizers(model), manual_optimization=True)
    with pytest.raises(ut.StageError, match="does not override manual_step"):
        ut.Trainer(task, device="cpu", max_epochs=1).fit(make_batches(count=1))


def test_requires_grad_is_restored_when_a_loss_raises() -> None:
    def failing(model: Any, batch: Batch) -> torch.Tensor:
        raise ValueError("no generator loss today")

    task = gan_task(optimizer_losses={"disc": disc_loss, "gen": failing})
    with pytest.raises(ValueError, match="no generator loss today"):
        ut.Trainer(task, device="cpu", max_epochs=1).fit(make_batches(count=1))
    assert all(p.requires_grad for p in task.model.parameters())
    assert task.model.disc[0].weight.grad is None  # the disc stepped and was cleared


def test_an_optimizer_loss_that_is_not_a_tensor() -> None:
    task = gan_task(optimizer_losses={"disc": disc_loss, "gen": lambda model, batch: None})
    with pytest.raises(ut.StageError, match=r"loss of optimizer 'gen' is NoneType"):
        ut.Trainer(task, device="cpu", max_epochs=1).fit(make_batches(count=1))


def test_an_unknown_optimization_mode() -> None:
    task = gan_task()
    task.optimization = "alternate"  # type: ignore[assignment]
    with pytest.raises(ut.ConfigError, match=r"optimization = 'alternate'.*'per_optimizer'"):
        ut.Trainer(task, device="cpu", max_epochs=1).fit(make_batches(count=1))


@pytest.mark.parametrize(
    ("strategy", "match"),
    [
        (DDPStrategy(), r"needs DDPStrategy\(find_unused_parameters=True\)"),
        (FSDPStrategy(), "not supported under FSDP"),
    ],
)
def test_distributed_runs_refuse_what_they_cannot_do(strategy: Any, match: str) -> None:
    model = make_gan()
    state = ut.State(optimizers=tuple(gan_optimizers(model).values()))
    check_optimization(state, DDPStrategy(find_unused_parameters=True))  # fine
    check_optimization(state, strategy)  # automatic: fine
    state.optimization = "per_optimizer"
    with pytest.raises(ut.ConfigError, match=match):
        check_optimization(state, strategy)


def test_losses_are_sequential_in_lifecycle_terms() -> None:
    # the generator's loss is computed after the discriminator stepped: its forward sees
    # the discriminator's new weights
    seen: list[torch.Tensor] = []

    def gen_watching(model: Any, batch: Batch) -> torch.Tensor:
        seen.append(model.disc[0].weight.detach().clone())
        return LOSSES[1](model, batch)

    task = gan_task(optimizer_losses={"disc": disc_loss, "gen": gen_watching})
    initial = task.model.disc[0].weight.detach().clone()
    ut.Trainer(task, device="cpu", max_epochs=1).fit(make_batches(count=1))
    assert not torch.equal(seen[0], initial)
    assert torch.equal(seen[0], task.model.disc[0].weight)
