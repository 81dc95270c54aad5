"""The training loop: fit → epoch → step.

Pseudocode of ``fit`` (every hook call stands beside the state change it announces)::

    optimizers = make_optimizer(); schedulers = make_scheduler() per optimizer
    on_fit_start
    while epochs and steps remain and no stop was requested:
        on_epoch_start                          # state.epoch, state.epoch_length
        for batch in train loader:              # state.batch_idx
            on_train_step_start(batch)          # state.accumulation_window, ends_window
            batch = run_prepare_batch(batch)
            result = run_forward(batch)
            run_backward(result);  micro_step += 1;  on_after_backward(result)
            if the accumulation window ends:
                for each optimizer i:
                    on_before_optimizer_step(i); run_optimizer_step(i)
                    on_after_optimizer_step(i); zero its gradients
                global_step += 1
            on_train_step_end(batch, result)
            every N steps: evaluate each split
            stop if asked to stop now or max_steps is reached
        unless stopped now, every N epochs: evaluate each split
        on_epoch_end;  epoch += 1
    on_fit_end
    (on any exception: every plugin's on_exception, each isolated; then the error propagates)

The step runs as written in :func:`run_train_step`, whatever the task and the plugins: it
calls each hook through the plan of :mod:`unitrain.core.plan` (a hook nobody implements
is skipped; a stage only the task implements is the task's method itself).
The evaluation and prediction passes are in :mod:`unitrain.core.passes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from torch import nn

from unitrain.core.batch import check_batch
from unitrain.core.data import Loader
from unitrain.core.passes import finish_train_step, run_evaluation
from unitrain.core.plan import PLAN, STEP_HOOKS, step_plan
from unitrain.core.result import StepResult, no_result
from unitrain.core.window import (
    clear_gradients,
    enter_window,
    step_optimizers,
    step_partial_window,
)
from unitrain.errors import ConfigError, StageError

if TYPE_CHECKING:
    from unitrain.core.engine import Trainer
    from unitrain.core.state import State

__all__ = ["enter_train_mode", "run_epoch", "run_fit", "run_train_step"]


def run_fit(trainer: Trainer, train: Loader, evals: dict[str, Loader]) -> None:
    """Train until the configured length is reached or a plugin asks to stop."""
    state, hooks = trainer.state, trainer.hooks
    state.stage = "fit"
    state.stop_requested, state.stop_reason = None, ""
    trainer.make_optimizers()
    hooks.on_fit_start(state)
    while not trainer.length_reached() and state.stop_requested is None:
        run_epoch(trainer, train, evals)
    hooks.on_fit_end(state)


def run_epoch(trainer: Trainer, train: Loader, evals: dict[str, Loader]) -> None:
    """One training epoch, its scheduled evaluation, and its closing event."""
    state, hooks, config = trainer.state, trainer.hooks, trainer.config
    limit = config.limit_train_batches
    length = train.length()
    state.epoch_length = limit if length is None else min(length, limit or length)
    state.batch_idx = 0
    train.set_epoch(state.epoch)
    # snapshot the data order, to replay it on resume; keep the RNG state before each fetch
    # only when a plugin may write a resumable checkpoint (see unitrain.runs.replay)
    resumable = any(callable(getattr(r.plugin, "resume_dirs", None)) for r in trainer.plugins)
    trainer.replay.start_epoch(train.batches, track_fetches=resumable)
    hooks.on_epoch_start(state)
    assert state.model is not None
    enter_train_mode(state.model)
    batches = train.batches if limit is None else islice(train.batches, limit)
    if state.stop_requested == "now":  # asked in on_epoch_start: no step runs at all
        batches = ()
    if length is None and config.accumulation > 1:
        batches = _mark_last(batches, state)  # the short last window then steps inside its step
    steps = trainer.replay.batches(batches)  # a resumed epoch skips its done batches
    max_steps, exhausted = config.max_steps, True
    for drawn, batch in enumerate(steps):
        if drawn == 0:  # every epoch: a later fit (or epoch) may bring other data
            check_batch(batch, f"first batch of {train.name}", train.expect_minibatch)
        # held until the next step has run, as a hand-written loop holds its `loss`: the
        # old graph keeps each parameter's gradient accumulator alive for autograd to
        # reuse (rebuilding them costs ~3 k instructions a step)
        held = run_train_step(trainer, batch, evals)  # noqa: F841
        if state.stop_requested == "now" or (
            max_steps is not None and state.global_step >= max_steps
        ):
            exhausted = False
            break
    trainer.replay.end_batches(exhausted)  # an epoch cut short here is resumed from here
    if state.batch_idx == 0 and state.stop_requested != "now":  # else: no end, no progress
        raise ConfigError(
            f"{train.name} yielded no batches in epoch {state.epoch}; give at least one "
            "batch, and a re-iterable (a list or DataLoader, not a generator) for more "
            "than one epoch"
        )
    if not state.ends_window and state.stop_requested != "now":
        step_partial_window(trainer, state.batch_idx % config.accumulation)
    elif not state.ends_window:  # stopped inside a window: drop it, or a later fit adds it
        for optimizer in state.optimizers:
            clear_gradients(optimizer)
    every = config.eval_every_epochs
    if state.stop_requested != "now" and every is not None and (state.epoch + 1) % every == 0:
        for split, loader in evals.items():
            run_evaluation(trainer, split, loader)
    hooks.on_epoch_end(state)
    state.epoch += 1


def run_train_step(trainer: Trainer, batch: Any, evals: dict[str, Loader]) -> StepResult:
    """One micro-step: forward, backward, and the optimizer step when the window ends;
    returns the step's result."""
    state, plugins, config = trainer.state, trainer.plugins, trainer.config
    accumulation = config.accumulation
    plan = plugins.plans.get(PLAN) or step_plan(plugins)
    try:
        if accumulation > 1:
            enter_window(state, accumulation)
        if plan.on_start is not None:
            plan.on_start(state, batch)
        batch = None if plan.prepare is None else plan.prepare(state, batch)
        result: StepResult | None = None
        if plan.forward is not None:
            result = plan.forward(state, batch)
        if result is None:
            raise StageError(
                no_result("run_forward", "a StepResult with the loss to backpropagate")
            )
        if plan.backward is not None:
            plan.backward(state, result)
        state.micro_step += 1
        if plan.on_backward is not None:
            plan.on_backward(state, result)
        if state.ends_window:
            step_optimizers(state, plan)
        if plan.on_end is not None:
            plan.on_end(state, batch, result)
    except BaseException as error:  # a caller bound straight to a plugin adds no note
        plugins.note_raised(error, STEP_HOOKS)
        raise
    if config.eval_every_steps is None:  # no evaluation can be due: skip the call
        state.batch_idx += 1
    else:
        finish_train_step(trainer, evals)
    return result


def enter_train_mode(model: nn.Module) -> None:
    """``model.train()``, unless every module already trains and none overrides ``train``.

    The call sets ``training`` on every module through ``nn.Module.__setattr__``: ~20 µs an
    epoch for a three-layer model, where this check costs ~2 µs.
    """
    pending = [model]
    while pending:
        module = pending.pop()
        if not module.training or type(module).train is not _MODULE_TRAIN:
            model.train()
            return
        pending.extend(child for child in module._modules.values() if child is not None)


_MODULE_TRAIN = nn.Module.train


def _mark_last(batches: Iterable[Any], state: State) -> Iterator[Any]:
    """Yield ``batches`` one ahead, so that before the last one ``state.epoch_length`` is set
    (a loader without ``len()`` then has a known last accumulation window)."""
    iterator = iter(batches)
    for current in iterator:
        for following in iterator:
            yield current
            current = following
        state.epoch_length = state.batch_idx + 1
        yield current
