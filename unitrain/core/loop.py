"""The training loop: fit → epoch → step.

Pseudocode of ``fit`` (every hook call stands beside the state change it announces)::

    phase = "fit"; clear stop requests; deadline = now + max_time (if set)
    overfit_batches=n: the first n training batches, drawn once, are every epoch's batches
                       and every evaluation split's
    once per engine: optimizers = make_optimizer(); make_scheduler() per optimizer
    on_fit_start
    while epochs and steps remain and no stop was requested:
        epoch_length = len(loader) (capped by limit_train_batches), or None; batch_idx = 0
        batches = make_epoch_batches(loader, batches)   # exact resume: restores the epoch's
                                                        # RNG, skips the batches already done
        on_epoch_start                          # state.epoch, state.epoch_length
        unless a stop "now" was asked for in on_epoch_start:
          for batch in batches (under accumulation: drawn one ahead, so the last batch of
                                the epoch is known and its short window steps inside it):
            the epoch's first batch: check its form (a clear error naming the loader)
            on_train_step_start(batch)          # state.accumulation_window, ends_window
            batch = run_prepare_batch(batch)
            result = run_forward(batch)         # the last step's loss is let go here
            run_backward(result);  micro_step += 1;  on_after_backward(result)
            if the accumulation window ends (accumulation micro-steps, or the epoch's last):
                for each optimizer i:
                    on_before_optimizer_step(i); run_optimizer_step(i)
                    on_after_optimizer_step(i); zero its gradients
                global_step += 1;  step the schedulers of interval "step"
            past the deadline (max_time) after an optimizer step: request_stop("now")
            on_train_step_end(batch, result)
            every N optimizer steps: evaluate each split (unless a stop "now" was asked)
            batch_idx += 1
            stop if a stop "now" was asked or max_steps is reached
        on_train_batches_end(exhausted)         # False when a stop or max_steps cut it short
        stopped "now" inside a window: drop its gradients
        unless stopped now, every N epochs: evaluate each split
        step the schedulers of interval "epoch"
        on_epoch_end;  epoch += 1
    on_fit_end;  fast_dev_run: log that it was a dev run
    (on any exception: every plugin's on_exception, each isolated; then the error propagates)

The step runs as written in :func:`train_step`, whatever the task and the plugins: it
calls each hook through the plan of :mod:`unitrain.core.plan` (a hook nobody implements
is skipped; a stage only the task implements is the task's method itself; a lone torch
optimizer with no event around its step is stepped and cleared without the loop).
A task with one loss per optimizer, or one that optimizes by hand, runs the step of
:mod:`unitrain.core.multi_step` instead (chosen once per epoch from ``state.optimization``).
The evaluation and prediction passes are in :mod:`unitrain.core.passes`, the window's
optimizer step in :mod:`unitrain.core.window`, the schedulers in :mod:`unitrain.core.schedule`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from torch import nn

from unitrain.core.batch import check_batch
from unitrain.core.data import Loader
from unitrain.core.multi_step import step_function
from unitrain.core.passes import evaluation_pass, finish_train_step
from unitrain.core.plan import PLAN, STEP_HOOKS, StepPlan, step_plans
from unitrain.core.result import StepResult, no_result
from unitrain.core.schedule import step_schedulers
from unitrain.core.window import clear_gradients, enter_window, step_optimizers
from unitrain.errors import ConfigError, StageError, StateError
from unitrain.log import get_logger

if TYPE_CHECKING:
    from unitrain.core.running import Running
    from unitrain.core.state import State

__all__ = ["enter_train_mode", "epoch_loop", "fit_loop", "overfit_loaders", "train_step"]

_log = get_logger("engine")


def fit_loop(engine: Running, train: Loader, evals: dict[str, Loader]) -> None:
    """Train until the configured length is reached or a plugin asks to stop."""
    state, hooks, config = engine.state, engine.hooks, engine.config
    state.phase = "fit"
    state.stop_requested, state.stop_reason = None, ""
    # the limit counts from here: a fit's own time, not the trainer's age
    engine.fit_deadline = None if config.max_time is None else time.monotonic() + config.max_time
    if config.overfit_batches is not None:
        train, evals = overfit_loaders(train, evals, config.overfit_batches)
    engine.make_optimizers()
    hooks.on_fit_start(state)
    while not engine.length_reached() and state.stop_requested is None:
        epoch_loop(engine, train, evals)
    hooks.on_fit_end(state)
    if config.fast_dev_run:
        _log.info(
            "fast_dev_run=%d: a dev run of %d training batch(es) and %d per evaluation split; "
            "max_epochs / max_steps were ignored and file-writing plugins skipped their writes",
            config.fast_dev_run,
            state.micro_step,
            config.fast_dev_run,
        )


def overfit_loaders(
    train: Loader, evals: dict[str, Loader], count: int
) -> tuple[Loader, dict[str, Loader]]:
    """The first ``count`` training batches, drawn once and kept: every epoch trains on
    these same batches (a shuffling loader is not drawn again) and every evaluation split
    evaluates on them."""
    kept = list(islice(train.batches, count))
    if len(kept) < count:
        raise ConfigError(
            f"overfit_batches={count}, but {train.name} yielded only {len(kept)} batch(es); "
            f"lower overfit_batches to at most {len(kept)} or give more data"
        )
    name = f"{train.name} (its first {count} batches: overfit_batches)"
    kept_train = Loader(kept, name, train.expect_minibatch)
    return kept_train, {
        split: Loader(kept, f"{name} as eval split {split!r}", train.expect_minibatch)
        for split in evals
    }


def epoch_loop(engine: Running, train: Loader, evals: dict[str, Loader]) -> None:
    """One training epoch, its scheduled evaluation, and its closing event."""
    state, hooks, config = engine.state, engine.hooks, engine.config
    limit, accumulation = config.limit_train_batches, config.accumulation
    length = train.length()
    state.epoch_length = limit if length is None else min(length, limit or length)
    state.batch_idx = 0
    train.set_epoch(state.epoch)
    batches: Iterable[Any] = train.batches if limit is None else islice(train.batches, limit)
    if accumulation > 1:
        # one ahead: the epoch's last batch is known before its step, so its window (short
        # when len() was unknown or wrong) steps inside it
        batches = _mark_last(batches, state)
    # the loader is iterated only after on_epoch_start (the first draw of a shuffled order)
    chosen = hooks.make_epoch_batches(state, train.batches, batches)
    steps = batches if chosen is None else chosen
    hooks.on_epoch_start(state)
    assert state.model is not None
    enter_train_mode(state.model)
    exhausted = _train_batches(engine, train, steps, evals)
    hooks.on_train_batches_end(state, exhausted)
    if state.batch_idx == 0 and state.stop_requested != "now":  # else: no end, no progress
        raise ConfigError(
            f"{train.name} yielded no batches in epoch {state.epoch}; give at least one "
            "batch, and a re-iterable (a list or DataLoader, not a generator) for more "
            "than one epoch"
        )
    if not state.ends_window:
        if state.stop_requested != "now":  # the last batch always ends its window
            raise StateError(
                f"{train.name}: epoch {state.epoch} ended inside an accumulation window "
                "although its last batch was known; this is a bug in unitrain, please report it"
            )
        # stopped inside a window: drop it, or a later fit adds it
        for optimizer in state.optimizers:
            clear_gradients(optimizer)
    every = config.eval_every_epochs
    if state.stop_requested != "now" and every is not None and (state.epoch + 1) % every == 0:
        for split, loader in evals.items():
            evaluation_pass(engine, split, loader)
    if state.schedulers:
        step_schedulers(state.schedulers, "epoch", state.epoch + 1, state.eval_metrics)
    hooks.on_epoch_end(state)
    state.epoch += 1


def _train_batches(
    engine: Running, train: Loader, steps: Iterable[Any], evals: dict[str, Loader]
) -> bool:
    """Run a step per batch; ``True`` when the batches ran out (not cut by a stop)."""
    state = engine.state
    if _stopping_now(state):  # asked in on_epoch_start: no step runs at all
        return False
    max_steps = engine.config.max_steps
    last_step = sys.maxsize if max_steps is None else max_steps
    # the task's optimization (chosen once per fit): several optimizers' losses or manual
    # optimization take a step of their own (unitrain.core.multi_step); this one otherwise
    step = step_function(state, train_step)
    own = step is train_step
    batches = iter(steps)
    first = next(batches, _NO_BATCH)
    if first is _NO_BATCH:
        return True
    # every epoch: a later fit (or epoch) may bring other data
    check_batch(first, f"first batch of {train.name}", train.expect_minibatch)
    try:
        for batch in chain((first,), batches):
            if own:  # holds its own loss, replaced right after the next forward
                train_step(engine, batch, evals)
            else:  # held until the next step has run, as a hand-written loop holds `loss`
                engine.held_loss = step(engine, batch, evals)
            # read afresh after every step: plugins ask for stops during it
            if state.stop_requested == "now" or state.global_step >= last_step:
                return False
    finally:
        engine.held_loss = None  # the last step's graph goes with the epoch
    return True


_NO_BATCH = object()


def train_step(engine: Running, batch: Any, evals: dict[str, Loader]) -> StepResult:
    """One micro-step: forward, backward, and the optimizer step when the window ends;
    returns the step's result."""
    state, plugins, config = engine.state, engine.plugins, engine.config
    plan: StepPlan
    lone: Any  # the one torch optimizer when no event surrounds its step (core.plan)
    try:
        plan, lone = plugins.plans[PLAN]
    except KeyError:  # the plugin set or the optimizers changed: plan anew
        plan, lone = step_plans(plugins, state)
    try:
        if config.accumulation > 1:
            enter_window(state, config.accumulation)
        # each caller read into a local first: calling plan.<stage>(...) straight looks the
        # slot up as a method, which CPython 3.11 cannot specialize for a slot's value
        if (call := plan.on_start) is not None:
            call(state, batch)
        batch = None if (call := plan.prepare) is None else call(state, batch)
        result: StepResult | None = None if (call := plan.forward) is None else call(state, batch)
        if result is None:
            raise StageError(
                no_result("run_forward", "a StepResult with the loss to backpropagate")
            )
        # The new loss replaces the last step's, right after the forward that made it, as
        # `loss = ...` does in a hand-written loop: until then the old graph kept each
        # parameter's gradient accumulator alive for autograd to reuse (rebuilding them
        # costs ~3 k instructions a step), and the old graph is freed where the hand-written
        # loop frees it, so the allocator sees the same sequence of requests.
        engine.held_loss = result.loss
        if (call := plan.backward) is not None:
            call(state, result)
        state.micro_step += 1
        if (call := plan.on_backward) is not None:
            call(state, result)
        if state.ends_window:
            if lone is None:
                step_optimizers(state, plan)
            else:  # one torch optimizer, no event around its step: step_optimizers' work
                call = plan.optimizer_step
                call(state, lone, 0)  # type: ignore[misc]  # a lone optimizer: it exists
                lone.zero_grad(set_to_none=True)  # clear_gradients(lone)
                state.global_step += 1
                if state.schedulers:
                    step_schedulers(state.schedulers, "step", state.global_step, state.eval_metrics)
            # before on_train_step_end, where a distributed run agrees on stops
            deadline = engine.fit_deadline
            if deadline is not None and time.monotonic() >= deadline:
                state.request_stop("now", f"max_time={config.max_time:g} s reached")
        if (call := plan.on_end) is not None:
            call(state, batch, result)
    except BaseException as error:  # a caller bound straight to a plugin adds no note
        plugins.note_raised(error, STEP_HOOKS)
        raise
    if config.eval_every_steps is None:  # no evaluation can be due: skip the call
        state.batch_idx += 1
    else:
        finish_train_step(engine, evals)
    return result


def _stopping_now(state: State) -> bool:
    # a function, not an inline test: plugins change the request during the calls between
    return state.stop_requested == "now"


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
    """Yield ``batches`` one ahead, so that before the last one ``state.epoch_length`` is set:
    a loader without ``len()``, or whose ``len()`` is wrong, then has a known last
    accumulation window, which steps inside its last micro-step. A ``len()`` that proves too
    small (more batches follow the one it called last) becomes unknown (``None``) until the
    last batch, so the windows keep their full size."""
    iterator = iter(batches)
    for current in iterator:
        for following in iterator:
            length = state.epoch_length
            if length is not None and state.batch_idx + 1 >= length:
                state.epoch_length = None  # len() said fewer batches than there are
            yield current
            current = following
        state.epoch_length = state.batch_idx + 1
        yield current
