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

The step runs as written in :func:`run_train_step`, or, for a task whose default stages
nothing overrides, as the same work in one function (:mod:`unitrain.tasks.fast_step`).
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
from unitrain.core.result import no_result
from unitrain.core.window import (
    clear_gradients,
    enter_window,
    step_optimizers,
    step_partial_window,
)
from unitrain.errors import ConfigError, StageError
from unitrain.tasks.fast_step import make_fast_step

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
    fast_step = make_fast_step(trainer, evals)  # None when a stage is overridden
    max_steps, exhausted = config.max_steps, True
    for drawn, batch in enumerate(steps):
        if drawn == 0:  # every epoch: a later fit (or epoch) may bring other data
            check_batch(batch, f"first batch of {train.name}", train.expect_minibatch)
        if fast_step is None or not fast_step(batch):
            run_train_step(trainer, batch, evals)
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


def run_train_step(trainer: Trainer, batch: Any, evals: dict[str, Loader]) -> None:
    """One micro-step: forward, backward, and the optimizer step when the window ends."""
    state, hooks, accumulation = trainer.state, trainer.hooks, trainer.config.accumulation
    if accumulation > 1:
        enter_window(state, accumulation)
    hooks.on_train_step_start(state, batch)
    batch = hooks.run_prepare_batch(state, batch)
    result = hooks.run_forward(state, batch)
    if result is None:
        raise StageError(no_result("run_forward", "a StepResult with the loss to backpropagate"))
    hooks.run_backward(state, result)
    state.micro_step += 1
    hooks.on_after_backward(state, result)
    if state.ends_window:
        step_optimizers(trainer)
    hooks.on_train_step_end(state, batch, result)
    finish_train_step(trainer, evals)


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
