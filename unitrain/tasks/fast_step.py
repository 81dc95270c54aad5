"""The training step of an unmodified task, as one function.

The generic step (:func:`unitrain.core.loop.run_train_step`) reaches the task through a
relay per stage and the task's overridable chain (``run_prepare_batch``, ``run_forward`` →
``compute_step`` → ``split_batch`` → ``forward`` → ``compute_losses`` → ``compute_metrics``,
``run_backward``, ``run_optimizer_step``), and calls every event's relay: about thirty
Python calls a step. Between a step's torch kernels the interpreter's caches are cold, so
each of those calls costs one to three microseconds there, about 10 % of a small model's
step on a CPU (``benchmarks/overhead.py`` measures it).

When no plugin implements a training stage and the task overrides none of those methods,
:func:`make_fast_step` gives the loop a step that does the same work inline, in the same
order, and calls an event's relay only when the event has implementations. It takes a
batch only if it is a plain ``(inputs, targets)`` tuple or list and the plugin set is still
the one it was made for; otherwise it returns ``False`` having done nothing, and the loop
runs the generic step. It builds the step's :class:`StepResult` only when an event that
receives it has implementations (or the task has metrics). Two differences from the generic
step: a plugin registered in the middle of a step hears events from the next step on (the
generic step would call it for the rest of that step), and a ``loss_reweight`` defined on
the loss's class (not on the loss itself, which is read every step) is read at the start of
each epoch. Every engine test runs through both paths (``tests/core/conftest.py``), and
``tests/tasks/test_fast_step.py`` compares them event for event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.batch import move_to_device
from unitrain.core.data import Loader
from unitrain.core.passes import finish_train_step
from unitrain.core.result import StepResult
from unitrain.core.window import enter_window
from unitrain.tasks.base import (
    REWEIGHT,
    batch_size_of,
    is_descriptor,
    loss_weight,
    total_loss,
)
from unitrain.tasks.train import TrainStages

if TYPE_CHECKING:
    from unitrain.core.engine import Trainer

__all__ = ["FastStep", "make_fast_step"]

FastStep = Callable[[Any], bool]
"""Runs one training step and returns ``True``, or returns ``False`` having done nothing."""

STAGES = ("run_prepare_batch", "run_forward", "run_backward", "run_optimizer_step")
STEPS = ("compute_step", "split_batch", "forward", "compute_losses", "compute_metrics")
INLINED = (*STAGES, *STEPS, "require_loss")


def make_fast_step(trainer: Trainer, evals: dict[str, Loader]) -> FastStep | None:
    """The inlined step for ``trainer``'s current plugins, or ``None`` when its task or a
    plugin changes a training stage (the loop then runs the generic step)."""
    task, plugins = trainer.task, trainer.plugins
    if not uses_default_stages(task):
        return None
    owners = [[impl.plugin_name for impl in plugins.implementations(s)] for s in STAGES]
    if any(names != ["task"] for names in owners):
        return None
    if not all(isinstance(o, torch.optim.Optimizer) for o in trainer.state.optimizers):
        return None  # a duck-typed optimizer's zero_grad() takes no set_to_none
    state, hooks, config = trainer.state, trainer.hooks, trainer.config
    generation, accumulation = plugins.generation, config.accumulation
    evaluates = config.eval_every_steps is not None
    listened = {name for name in _EVENTS if plugins.implementations(name)}
    on_start = hooks.on_train_step_start if "on_train_step_start" in listened else None
    on_backward = hooks.on_after_backward if "on_after_backward" in listened else None
    on_before = hooks.on_before_optimizer_step if "on_before_optimizer_step" in listened else None
    on_after = hooks.on_after_optimizer_step if "on_after_optimizer_step" in listened else None
    on_end = hooks.on_train_step_end if "on_train_step_end" in listened else None
    needs_result = on_backward is not None or on_end is not None
    tensor, backward = torch.Tensor, torch.autograd.backward
    # a loss's class-level ``loss_reweight`` is read here, once an epoch: on an nn.Module
    # that lacks it the lookup raises and catches an AttributeError, ~0.5 µs a step
    known, own, default = _loss_weight_parts(task)
    previous_loss: torch.Tensor | None = None

    def fast_step(batch: Any) -> bool:
        nonlocal previous_loss
        kind = type(batch)
        if (kind is not tuple and kind is not list) or len(batch) != 2:
            return False
        if plugins.generation != generation:  # a plugin came or went during the epoch
            return False
        stage = None  # the task's stage running now, named in the note of an error
        try:
            if accumulation > 1:
                enter_window(state, accumulation)
            if on_start is not None:
                on_start(state, batch)
            stage = "run_prepare_batch"
            inputs, targets = batch
            device = state.device
            inputs = inputs.to(device) if type(inputs) is tensor else move_to_device(inputs, device)
            if type(targets) is tensor:
                targets = targets.to(device)
            else:
                targets = move_to_device(targets, device)
            stage = "run_forward"
            outputs = task.model(inputs)
            losses: dict[str, tuple[float, torch.Tensor]] | None = None
            if len(task.losses) == 1:
                ((name, function),) = task.losses.items()
                if function is known:  # its own loss_reweight, read every step
                    value = None if own is None else own.get(REWEIGHT)
                    weight = default if value is None else float(value)
                else:
                    weight = loss_weight(function)
                raw = function(outputs, targets)
                loss = raw if weight == 1.0 else raw * weight
            else:
                batch = kind((inputs, targets))
                losses = task.compute_losses(batch, outputs, targets)
                loss = total_loss(losses)
            # a hand-written loop holds `loss` until the next step's forward has made a new
            # one: the old graph (backward freed its saved tensors) keeps each parameter's
            # gradient accumulator node alive, which autograd then reuses, not rebuilds
            previous_loss = loss
            result = None
            # the StepResult (and the prepared batch) only when someone reads it: building
            # one costs about a microsecond a step
            if needs_result or task.metrics or loss is None:
                if losses is None:  # the single loss's step: its batch is not built yet
                    batch = kind((inputs, targets))
                    losses = {name: (weight, raw)}
                metrics = task.compute_metrics(batch, outputs, targets) if task.metrics else {}
                plain = type(inputs) is tensor and inputs.ndim
                size = inputs.shape[0] if plain else batch_size_of(inputs)
                result = StepResult(loss, losses, metrics, outputs, targets, size)
            stage = "run_backward"
            if loss is None:
                task.require_loss(result)  # raises, saying how to give the task a loss
            window = state.accumulation_window
            backward(loss / window if window > 1 else loss)
            stage = None
            state.micro_step += 1
            if on_backward is not None:
                assert result is not None
                on_backward(state, result)
            if state.ends_window:
                for index, optimizer in enumerate(state.optimizers):
                    if on_before is not None:
                        on_before(state, optimizer, index)
                    stage = "run_optimizer_step"
                    optimizer.step()
                    stage = None
                    if on_after is not None:
                        on_after(state, optimizer, index)
                    optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
            if on_end is not None:
                assert result is not None
                on_end(state, batch, result)
        except BaseException as error:
            if stage is not None:  # as the relay of that stage would have noted it
                plugins.note_error(error, stage, "task")
            raise
        if evaluates:
            finish_train_step(trainer, evals)
        else:
            state.batch_idx += 1
        return True

    return fast_step


_EVENTS = (
    "on_train_step_start",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_after_optimizer_step",
    "on_train_step_end",
)


def _loss_weight_parts(task: TrainStages) -> tuple[object, dict[str, Any] | None, float]:
    """The task's single loss, its instance ``__dict__`` and its class's ``loss_reweight``;
    no loss when there are several or the class computes the weight (a property): then
    :func:`loss_weight` reads it every step."""
    if len(task.losses) != 1:
        return None, None, 1.0
    (function,) = task.losses.values()
    default = getattr(type(function), REWEIGHT, 1.0)
    if is_descriptor(default):
        return None, None, 1.0
    return function, getattr(function, "__dict__", None), float(default)


def uses_default_stages(task: object) -> bool:
    """Whether ``task`` runs :class:`TrainStages`' own methods for every inlined step."""
    if not isinstance(task, TrainStages):
        return False
    cls, own = type(task), getattr(task, "__dict__", {})
    return all(getattr(cls, n) is getattr(TrainStages, n) and n not in own for n in INLINED)
