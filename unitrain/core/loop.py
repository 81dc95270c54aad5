"""The loop: fit → epoch → step, and the eval and predict passes.

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

An evaluation pass over one split::

    on_eval_start(split)                        # eval mode, no grad, state.split
    for batch: on_eval_step_start; run_prepare_batch; run_eval_step; on_eval_step_end
    on_eval_end(split, metrics)                 # sample-weighted means of the pass
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.aggregate import MeanAccumulator
from unitrain.core.batch import check_batch
from unitrain.core.data import Loader
from unitrain.core.result import StepResult
from unitrain.errors import ConfigError, StageError

if TYPE_CHECKING:
    from unitrain.core.engine import Trainer
    from unitrain.core.state import State

__all__ = ["run_evaluation", "run_fit", "run_prediction"]


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
    trainer.replay.start_epoch(train.batches)  # snapshot the data order; replay it on resume
    hooks.on_epoch_start(state)
    assert state.model is not None
    state.model.train()
    batches = train.batches if limit is None else islice(train.batches, limit)
    if state.stop_requested == "now":  # asked in on_epoch_start: no step runs at all
        batches = ()
    if length is None and config.accumulation > 1:
        batches = _mark_last(batches, state)  # the short last window then steps inside its step
    steps = trainer.replay.batches(batches)  # a resumed epoch skips its done batches
    for drawn, batch in enumerate(steps):
        if drawn == 0:  # every epoch: a later fit (or epoch) may bring other data
            check_batch(batch, f"first batch of {train.name}", train.expect_minibatch)
        run_train_step(trainer, batch, evals)
        if state.stop_requested == "now" or trainer.steps_reached():
            break
    trainer.replay.end_batches()  # an epoch cut short here (max_steps) is resumed from here
    if state.batch_idx == 0 and state.stop_requested != "now":  # else: no end, no progress
        raise ConfigError(
            f"{train.name} yielded no batches in epoch {state.epoch}; give at least one "
            "batch, and a re-iterable (a list or DataLoader, not a generator) for more "
            "than one epoch"
        )
    if not state.ends_window and state.stop_requested != "now":
        _step_partial_window(trainer, state.batch_idx % config.accumulation)
    elif not state.ends_window:  # stopped inside a window: drop it, or a later fit adds it
        for optimizer in state.optimizers:
            optimizer.zero_grad(set_to_none=True)
    every = config.eval_every_epochs
    if state.stop_requested != "now" and every is not None and (state.epoch + 1) % every == 0:
        for split, loader in evals.items():
            run_evaluation(trainer, split, loader)
    hooks.on_epoch_end(state)
    state.epoch += 1


def run_train_step(trainer: Trainer, batch: Any, evals: dict[str, Loader]) -> None:
    """One micro-step: forward, backward, and the optimizer step when the window ends."""
    state, hooks, k = trainer.state, trainer.hooks, trainer.config.accumulation
    if k > 1:
        start = state.batch_idx - state.batch_idx % k
        length = state.epoch_length
        window = k if length is None else min(k, length - start)
        if window < state.accumulation_window and state.batch_idx > start:
            # an unsized loader's last window proved short: its earlier micro-steps divided
            # their losses by k; rescale so the window's gradient is the mean over `window`
            _scale_gradients(state, state.accumulation_window / window)
        state.accumulation_window = window
        state.ends_window = state.batch_idx - start + 1 == window
    hooks.on_train_step_start(state, batch)
    batch = hooks.run_prepare_batch(state, batch)
    result = hooks.run_forward(state, batch)
    if result is None:
        raise StageError(_no_result("run_forward", "a StepResult with the loss to backpropagate"))
    hooks.run_backward(state, result)
    state.micro_step += 1
    hooks.on_after_backward(state, result)
    if state.ends_window:
        _step_optimizers(trainer)
    hooks.on_train_step_end(state, batch, result)
    every = trainer.config.eval_every_steps
    if every is not None and state.ends_window and state.global_step % every == 0:
        for split, loader in evals.items() if state.stop_requested != "now" else ():
            run_evaluation(trainer, split, loader)
    state.batch_idx += 1


def _step_optimizers(trainer: Trainer) -> None:
    state, hooks = trainer.state, trainer.hooks
    for index, optimizer in enumerate(state.optimizers):
        hooks.on_before_optimizer_step(state, optimizer, index)
        hooks.run_optimizer_step(state, optimizer, index)
        hooks.on_after_optimizer_step(state, optimizer, index)
        optimizer.zero_grad(set_to_none=True)
    state.global_step += 1


def _step_partial_window(trainer: Trainer, taken: int) -> None:
    """Step the last window of an epoch of unknown length, which ran short.

    Its gradients were divided by the full window size; rescale them to the mean over the
    micro-steps actually taken, as a window of known length would have.
    """
    _scale_gradients(trainer.state, trainer.config.accumulation / taken)
    _step_optimizers(trainer)


def _scale_gradients(state: State, factor: float) -> None:
    with torch.no_grad():
        for optimizer in state.optimizers:
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad.mul_(factor)


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


def run_evaluation(trainer: Trainer, split: str, loader: Loader) -> dict[str, float]:
    """One pass over ``loader``; returns (and stores in the state) the averaged metrics."""
    state, hooks = trainer.state, trainer.hooks
    assert state.model is not None
    saved = (state.stage, state.split, state.batch_idx)
    was_training = state.model.training
    state.stage, state.split, state.batch_idx = "eval", split, 0
    state.model.eval()
    try:
        with torch.no_grad():
            hooks.on_eval_start(state, split)
            totals = MeanAccumulator()
            for index, batch in enumerate(loader.batches):
                state.batch_idx = index
                if index == 0:
                    check_batch(batch, f"first batch of {loader.name}", loader.expect_minibatch)
                hooks.on_eval_step_start(state, split, batch)
                prepared = hooks.run_prepare_batch(state, batch)
                result = hooks.run_eval_step(state, prepared)
                if not isinstance(result, StepResult):
                    raise StageError(_no_result("run_eval_step", "a StepResult", result))
                totals.add(result)
                hooks.on_eval_step_end(state, split, prepared, result)
            totals.synchronize(state.device)  # all ranks' sums and counts (distributed)
            metrics = totals.compute()
            state.eval_metrics[split] = metrics
            hooks.on_eval_end(state, split, metrics)
    finally:
        state.stage, state.split, state.batch_idx = saved
        state.model.train(was_training)
    return metrics


def run_prediction(trainer: Trainer, loader: Loader) -> list[Any]:
    """One prediction pass; returns what ``run_predict_step`` gave for each batch."""
    state, hooks = trainer.state, trainer.hooks
    assert state.model is not None
    outputs: list[Any] = []
    saved, was_training = (state.stage, state.batch_idx), state.model.training
    state.stage, state.batch_idx = "predict", 0
    state.model.eval()
    try:
        with torch.no_grad():
            hooks.on_predict_start(state)
            for index, batch in enumerate(loader.batches):
                state.batch_idx = index
                if index == 0:
                    check_batch(batch, f"first batch of {loader.name}", loader.expect_minibatch)
                prepared = hooks.run_prepare_batch(state, batch)
                output = hooks.run_predict_step(state, prepared)
                if output is None:
                    raise StageError(_no_result("run_predict_step", "the batch's predictions"))
                hooks.on_predict_step_end(state, prepared, output)
                outputs.append(output)
            hooks.on_predict_end(state)
    finally:  # as after an evaluation: a plugin may predict in the middle of a fit
        state.stage, state.batch_idx = saved
        state.model.train(was_training)
    return outputs


def _no_result(stage: str, expected: str, got: object = None) -> str:
    return (
        f"stage {stage!r} returned {type(got).__name__ if got is not None else 'nothing'}; "
        f"expected {expected}. The task implements it by default: check that a plugin or "
        f"Task subclass that overrides {stage} returns its result"
    )
