"""The task the t3w loops hand to the engine: t3w's step semantics as unitrain stages.

- ``make_optimizer`` / ``make_scheduler``: the :class:`TopLevelModule`'s ``optim`` and
  ``lr_scheduler`` (the engine steps the scheduler once per epoch, as t3w did);
- ``run_forward``: ``TopLevelModule.forward(mb, losses, metrics, step_dict)``; the step
  return rides in ``StepResult.outputs`` for the side effects;
- ``run_backward``: the native one (``loss / num_acc_grad``); skipped when the step
  produced no loss, as t3w skipped it;
- ``run_eval_step``: the model fills the minibatch, the eval loop's dataset metrics update;
- the stash flag behind ``training_progress.epoch`` (see :mod:`.progress`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.t3w.contract import empty_step_return
from unitrain.compat.t3w.module import TopLevelModule
from unitrain.compat.t3w.progress import EPOCH_TRAINED
from unitrain.core.metrics import IDatasetMetric
from unitrain.core.result import StepResult
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.task import Task

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["T3wTask"]


class T3wTask(Task):
    """Trains / evaluates a :class:`TopLevelModule` the way t3w's loops did."""

    def __init__(
        self,
        model: TopLevelModule,
        losses: Mapping[str, torch.nn.Module] | None = None,
        metrics: Mapping[str, torch.nn.Module] | None = None,
        eval_metrics: Mapping[str, IDatasetMetric] | None = None,
    ) -> None:
        super().__init__(
            model,
            losses=dict(losses or {}),
            metrics=dict(metrics or {}),
            dataset_metrics=dict(eval_metrics or {}),
            optimizer=model.optim,
        )
        self.top = model

    # ------------------------------------------------------------------ providers

    @hookimpl
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None:
        return self.top.optim

    @hookimpl
    def make_scheduler(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> Any:
        if optimizer_idx != 0:
            return None
        if self.top.lr_scheduler is not None:
            _mark_step_tracking(self.top.lr_scheduler.optimizer)
        return self.top.lr_scheduler

    # ------------------------------------------------------------------ train

    @hookimpl
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        step = empty_step_return()
        # self.model, not self.top: in a distributed run it is the DDP-wrapped module here
        total = self.model(batch, self.losses, self.metrics, step)
        loss = total if isinstance(total, torch.Tensor) else None
        losses = step["losses"]
        return StepResult(
            loss=loss,
            losses=losses,
            metrics=step["metrics"],
            outputs=step,
            batch_size=batch.nopad_batch_size,
        )

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        if result.loss is None:  # no loss and no regularizer: t3w skipped backward
            return True
        return super().run_backward(state, result)

    @hookimpl(trylast=True)
    def on_train_step_end(self, state: State) -> None:
        # After every other plugin: t3w counted the epoch as done only after the last
        # step's on_train_step_finished.
        if state.epoch_length is not None and state.batch_idx + 1 >= state.epoch_length:
            state.stash[EPOCH_TRAINED] = True

    @hookimpl(tryfirst=True)
    def on_epoch_start(self, state: State) -> None:
        state.stash[EPOCH_TRAINED] = False

    @hookimpl(trylast=True)
    def on_epoch_end(self, state: State) -> None:
        state.stash[EPOCH_TRAINED] = False  # the engine advances state.epoch next

    # ------------------------------------------------------------------ eval

    @hookimpl
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        self.top(batch)
        for metric in self.dataset_metrics.values():
            metric.update(batch)
        return StepResult(batch_size=batch.nopad_batch_size)


def _mark_step_tracking(optimizer: torch.optim.Optimizer) -> None:
    """Put back the step marker a scheduler puts on its optimizer, lost when both were
    pickled into the processes of a distributed run (torch then warns, wrongly, that
    ``optimizer.step`` was overridden; t3w restored it the same way)."""
    step = optimizer.step
    if hasattr(step, "_wrapped_by_lr_sched"):
        return
    owner = weakref.ref(optimizer)
    unbound = type(optimizer).step

    @functools.wraps(unbound)
    def tracked_step(*args: Any, **kwargs: Any) -> Any:
        instance = owner()
        instance._opt_called = True  # type: ignore[union-attr]
        return unbound(instance, *args, **kwargs)  # type: ignore[arg-type]

    tracked_step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = tracked_step  # type: ignore[method-assign]
