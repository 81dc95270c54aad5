"""The evaluation and prediction passes, and the evaluation a training step makes due.

An evaluation pass over one split::

    on_eval_start(split)                        # eval mode, no grad, state.split
    for batch (at most limit_eval_batches, or fast_dev_run's n):
        on_eval_step_start; run_prepare_batch; run_eval_step; on_eval_step_end
    on_eval_end(split, metrics)                 # sample-weighted means of the pass

A prediction pass::

    on_predict_start                            # eval mode, no grad
    for batch (at most fast_dev_run's n):
        on_predict_step_start; run_prepare_batch; run_predict_step; on_predict_step_end
    on_predict_end
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.aggregate import MeanAccumulator
from unitrain.core.batch import check_batch
from unitrain.core.data import Loader
from unitrain.core.result import StepResult, no_result
from unitrain.errors import StageError

if TYPE_CHECKING:
    from unitrain.core.running import Running

__all__ = ["evaluation_pass", "finish_train_step", "prediction_pass"]


def finish_train_step(engine: Running, evals: dict[str, Loader]) -> None:
    """After ``on_train_step_end``: the evaluations due at this optimizer step (every
    ``eval_every_steps``), then on to the next batch."""
    state = engine.state
    every = engine.config.eval_every_steps
    if every is not None and state.ends_window and state.global_step % every == 0:
        for split, loader in evals.items() if state.stop_requested != "now" else ():
            evaluation_pass(engine, split, loader)
    state.batch_idx += 1


def evaluation_pass(engine: Running, split: str, loader: Loader) -> dict[str, float]:
    """One pass over ``loader``; returns (and stores in the state) the averaged metrics."""
    state, hooks = engine.state, engine.hooks
    assert state.model is not None
    saved = (state.phase, state.split, state.batch_idx)
    was_training = state.model.training
    state.phase, state.split, state.batch_idx = "eval", split, 0
    state.eval_length = loader.length()  # for progress displays
    state.model.eval()
    try:
        with torch.no_grad():
            hooks.on_eval_start(state, split)
            totals = MeanAccumulator()
            limit = engine.config.limit_eval_batches
            for index, batch in enumerate(_limited(loader.batches, limit)):
                state.batch_idx = index
                if index == 0:
                    check_batch(batch, f"first batch of {loader.name}", loader.expect_minibatch)
                hooks.on_eval_step_start(state, split, batch)
                prepared = hooks.run_prepare_batch(state, batch)
                result = hooks.run_eval_step(state, prepared)
                if not isinstance(result, StepResult):
                    raise StageError(no_result("run_eval_step", "a StepResult", result))
                totals.add(result)
                hooks.on_eval_step_end(state, split, prepared, result)
            totals.synchronize(state.device)  # all ranks' sums and counts (distributed)
            metrics = totals.compute()
            state.eval_metrics[split] = metrics
            hooks.on_eval_end(state, split, metrics)
    finally:
        state.phase, state.split, state.batch_idx = saved
        state.model.train(was_training)
    return metrics


def prediction_pass(engine: Running, loader: Loader) -> list[Any]:
    """One prediction pass; returns what ``run_predict_step`` gave for each batch."""
    state, hooks = engine.state, engine.hooks
    assert state.model is not None
    outputs: list[Any] = []
    saved, was_training = (state.phase, state.batch_idx), state.model.training
    state.phase, state.batch_idx = "predict", 0
    state.model.eval()
    try:
        with torch.no_grad():
            hooks.on_predict_start(state)
            limit = engine.config.fast_dev_run or None
            for index, batch in enumerate(_limited(loader.batches, limit)):
                state.batch_idx = index
                if index == 0:
                    check_batch(batch, f"first batch of {loader.name}", loader.expect_minibatch)
                hooks.on_predict_step_start(state, batch)
                prepared = hooks.run_prepare_batch(state, batch)
                output = hooks.run_predict_step(state, prepared)
                if output is None:
                    raise StageError(no_result("run_predict_step", "the batch's predictions"))
                hooks.on_predict_step_end(state, prepared, output)
                outputs.append(output)
            hooks.on_predict_end(state)
    finally:  # as after an evaluation: a plugin may predict in the middle of a fit
        state.phase, state.batch_idx = saved
        state.model.train(was_training)
    return outputs


def _limited(batches: Iterable[Any], limit: int | None) -> Iterable[Any]:
    return batches if limit is None else islice(batches, limit)
