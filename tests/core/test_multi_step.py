"""Several optimizers with their own losses, and manual optimization, held bit for bit to
the hand-written alternating loop; hook order in both modes; bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import unitrain as ut
from tests.core.gan import (
    LOSSES,
    Batch,
    accumulating_by_hand,
    alternating_by_hand,
    assert_same_weights,
    disc_loss,
    gen_loss,
    make_batches,
    make_gan,
    make_optimizers,
)
from unitrain.core.multi_step import ManualOptimization
from unitrain.core.schedule import ScheduledLR
from unitrain.plugins import GradientClipping, MixedPrecision


def gan_task(**kwargs: Any) -> ut.Task:
    model = make_gan()
    kwargs.setdefault("optimizer_losses", {"disc": disc_loss, "gen": gen_loss})
    kwargs.setdefault("optimizer", make_optimizers(model))
    return ut.Task(model, **kwargs)


class ManualGan(ut.Task):
    """The hand-written alternating loop, written in manual_step."""

    manual_optimization = True

    def manual_step(self, batch: Batch, manual: ManualOptimization) -> torch.Tensor:
        total = torch.zeros(())
        for index, loss_fn in enumerate(LOSSES):
            manual.zero_grad(index)  # the generator's loss left gradients on the disc
            loss = loss_fn(self.model, batch)
            manual.backward(loss)
            manual.step(index)
            total = total + loss.detach()
        return total


def manual_task() -> ManualGan:
    model = make_gan()
    return ManualGan(model, optimizer=make_optimizers(model))


def fit(task: ut.Task, batches: list[Batch], **settings: Any) -> ut.State:
    settings.setdefault("max_epochs", 1)
    return ut.Trainer(task, device="cpu", **settings).fit(batches)


# ------------------------------------------------------------------ parity


@pytest.mark.parametrize("epochs", [1, 2])
def test_per_optimizer_losses_equal_the_alternating_loop(epochs: int) -> None:
    batches = make_batches()
    task = gan_task()
    state = fit(task, batches, max_epochs=epochs)
    assert_same_weights(task.model, alternating_by_hand(batches, epochs=epochs))
    assert (state.global_step, state.micro_step) == (6 * epochs, 6 * epochs)


def test_optimizers_as_a_sequence_with_losses_by_index() -> None:
    batches = make_batches()
    model = make_gan()
    task = ut.Task(
        model,
        optimizer=list(make_optimizers(model).values()),
        optimizer_losses={0: disc_loss, 1: gen_loss},
    )
    fit(task, batches)
    assert_same_weights(model, alternating_by_hand(batches))


def test_the_generator_loss_sees_the_stepped_discriminator() -> None:
    # sequential, not one forward: after one batch the discriminators agree, and the
    # generator differs from one whose loss ran through the discriminator before its step
    batches = make_batches(count=1)
    task = gan_task()
    fit(task, batches)
    simultaneous = make_gan()
    optimizers = list(make_optimizers(simultaneous).values())
    for batch in batches:
        losses = [fn(simultaneous, batch) for fn in LOSSES]
        for optimizer, loss in zip(optimizers, losses, strict=True):
            params = [p for g in optimizer.param_groups for p in g["params"]]
            for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
                p.grad = g
        for optimizer in optimizers:
            optimizer.step()
    assert not torch.equal(task.model.gen[0].weight, simultaneous.gen[0].weight)
    assert torch.equal(task.model.disc[0].weight, simultaneous.disc[0].weight)


@pytest.mark.parametrize("k", [2, 4])
def test_accumulation_gives_each_optimizer_its_own_window_mean(k: int) -> None:
    batches = make_batches()  # 6 batches: with k=4 the second window is short (2)
    task = gan_task()
    state = fit(task, batches, accumulation=k)
    assert_same_weights(task.model, accumulating_by_hand(batches, k))
    assert state.global_step == -(-6 // k)


def test_clipping_clips_each_optimizer_before_its_step() -> None:
    batches = make_batches()
    task = gan_task()
    clipping = GradientClipping(max_norm=0.05)
    fit(task, batches, plugins=[clipping])
    assert clipping.last_norm is not None and float(clipping.last_norm) > 0.05  # it clipped
    assert_same_weights(task.model, alternating_by_hand(batches, max_norm=0.05))
    unclipped = alternating_by_hand(batches)
    assert not torch.equal(task.model.gen[0].weight, unclipped.gen[0].weight)


def test_step_schedulers_step_once_per_batch_after_both_optimizers() -> None:
    batches = make_batches()

    def scheduler(optimizer: torch.optim.Optimizer) -> ScheduledLR:
        return ScheduledLR(torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5), "step")

    task = gan_task(scheduler=scheduler)
    state = fit(task, batches)
    model = make_gan()
    optimizers = list(make_optimizers(model).values())
    schedulers = [torch.optim.lr_scheduler.StepLR(o, 2, 0.5) for o in optimizers]
    for batch in batches:
        for optimizer, loss_fn in zip(optimizers, LOSSES, strict=True):
            optimizer.zero_grad()
            loss_fn(model, batch).backward()
            optimizer.step()
        for s in schedulers:
            s.step()
    assert_same_weights(task.model, model)
    lrs = [o.param_groups[0]["lr"] for o in optimizers]
    assert [o.param_groups[0]["lr"] for o in state.optimizers] == lrs == [0.02 / 8, 0.05 / 8]


def test_manual_optimization_equals_the_alternating_loop() -> None:
    batches = make_batches()
    task = manual_task()
    state = fit(task, batches, max_epochs=2, plugins=[GradientClipping(max_norm=0.05)])
    assert_same_weights(task.model, alternating_by_hand(batches, epochs=2, max_norm=0.05))
    assert (state.global_step, state.micro_step) == (12, 12)


def test_manual_optimization_accumulates_through_the_handle() -> None:
    class Accumulating(ut.Task):
        manual_optimization = True

        def manual_step(self, batch: Batch, manual: ManualOptimization) -> None:
            for index, loss_fn in enumerate(LOSSES):
                with manual.toggle(index):  # only this optimizer's parameters get gradients
                    manual.backward(loss_fn(self.model, batch))
                manual.step(index)  # steps only when the window ends

    batches = make_batches()
    model = make_gan()
    state = fit(Accumulating(model, optimizer=make_optimizers(model)), batches, accumulation=4)
    assert_same_weights(model, accumulating_by_hand(batches, 4))
    assert state.global_step == 2


def test_mixed_precision_scales_each_loss_and_updates_once_per_step() -> None:
    # bf16 autocast with a CPU GradScaler: one scaler, each loss scaled, unscaled per
    # optimizer before clipping, each optimizer stepped through it, one update() per batch
    batches = make_batches()
    task = gan_task()
    amp = MixedPrecision("bf16", scaler=True)
    fit(task, batches, plugins=[amp, GradientClipping(max_norm=0.05)])
    model = make_gan()
    optimizers = list(make_optimizers(model).values())
    scaler = torch.amp.GradScaler("cpu")
    for batch in batches:
        for optimizer, loss_fn in zip(optimizers, LOSSES, strict=True):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model, batch)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, 0.05)
            scaler.step(optimizer)
        scaler.update()
    assert_same_weights(task.model, model)
    assert amp.scaler is not None and amp.scaler.get_scale() == scaler.get_scale()


def test_manual_mixed_precision_updates_the_scaler_once_per_window() -> None:
    batches = make_batches()
    task = manual_task()
    amp = MixedPrecision("bf16", scaler=True)
    fit(task, batches, plugins=[amp])
    assert amp.scaler is not None
    # growth_interval 2000: no growth yet, and no "update() without a step" error
    assert amp.scaler.get_scale() == torch.amp.GradScaler("cpu").get_scale()
    assert amp.scaler._growth_tracker.item() == 6  # one update per step, each finite


def test_evaluation_of_a_per_optimizer_task_uses_its_metrics() -> None:
    batches = make_batches()

    def realness(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return outputs.mean()

    task = gan_task(metrics={"mean": realness})
    state = ut.Trainer(task, device="cpu", max_epochs=1).fit(batches, eval_data=batches)
    assert set(state.eval_metrics["val"]) == {"mean"}


@settings(max_examples=8, deadline=None)
@given(count=st.integers(min_value=1, max_value=7), k=st.integers(min_value=1, max_value=4))
def test_any_epoch_length_and_window_equal_the_hand_written_windows(count: int, k: int) -> None:
    # the invariant: each optimizer steps once per window on the window mean of its own
    # loss's gradient, whatever the windows and the epoch's short last one
    batches = make_batches(count=count, seed=count * 10 + k)
    task = gan_task()
    state = fit(task, batches, accumulation=k)
    assert_same_weights(task.model, accumulating_by_hand(batches, k))
    assert state.global_step == -(-count // k)


def test_a_sequence_of_optimizers_without_losses_steps_all_on_the_one_loss() -> None:
    # automatic optimization, as before: Task(optimizer=[...]) is just a shorter spelling
    batches = make_batches(count=3)
    model = make_gan()
    task = ut.Task(model, loss=gen_loss_of_outputs, optimizer=list(make_optimizers(model).values()))
    state = fit(task, [(noise, noise) for noise, _ in batches])
    assert state.optimization == "automatic" and len(state.optimizers) == 2
    reference = make_gan()
    optimizers = list(make_optimizers(reference).values())
    for noise, _ in batches:
        gen_loss_of_outputs(reference(noise), noise).backward()
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad()
    assert_same_weights(model, reference)


def gen_loss_of_outputs(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs - targets[:, :3]).pow(2).mean()
