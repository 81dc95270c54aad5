"""Accumulation windows and the optimizer step that ends each one.

A window is ``accumulation`` micro-steps (fewer for the last one of an epoch); each
micro-step's loss is divided by the window's length, so the window's gradient is the mean
over its micro-steps, as one large batch would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.plan import StepPlan
from unitrain.core.schedule import step_schedulers

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["clear_gradients", "enter_window", "is_optimizer", "scale_gradients", "step_optimizers"]


def enter_window(state: State, accumulation: int) -> None:
    """Before a micro-step (``accumulation > 1``): set the window's length and whether this
    micro-step ends it."""
    start = state.batch_idx - state.batch_idx % accumulation
    length = state.epoch_length
    window = accumulation if length is None else min(accumulation, length - start)
    if window < state.accumulation_window and state.batch_idx > start:
        # an unsized loader's last window proved short: its earlier micro-steps divided
        # their losses by the full size; rescale so the window's gradient is the mean
        scale_gradients(state, state.accumulation_window / window)
    state.accumulation_window = window
    state.ends_window = state.batch_idx - start + 1 == window


def is_optimizer(candidate: object) -> bool:
    """A torch optimizer, or any object with callable ``step`` and ``zero_grad`` (duck-typed:
    aitoolbox accepted such objects, e.g. a wrapper that steps several optimizers)."""
    return isinstance(candidate, torch.optim.Optimizer) or (
        callable(getattr(candidate, "step", None))
        and callable(getattr(candidate, "zero_grad", None))
    )


def clear_gradients(optimizer: Any) -> None:
    """``zero_grad``: to ``None`` for a torch optimizer; a duck-typed one gets the bare call."""
    if isinstance(optimizer, torch.optim.Optimizer):
        optimizer.zero_grad(set_to_none=True)
    else:
        optimizer.zero_grad()


def step_optimizers(state: State, plan: StepPlan) -> None:
    """Step every optimizer between its two events, clear its gradients, count the step,
    step the schedulers of interval ``"step"``.

    The callers come from ``plan`` (:mod:`unitrain.core.plan`): the caller of this function
    notes an error that comes out of them."""
    on_before, optimizer_step, on_after = plan.on_before, plan.optimizer_step, plan.on_after
    for index, optimizer in enumerate(state.optimizers):
        if on_before is not None:
            on_before(state, optimizer, index)
        if optimizer_step is not None:
            optimizer_step(state, optimizer, index)
        if on_after is not None:
            on_after(state, optimizer, index)
        clear_gradients(optimizer)
    state.global_step += 1
    if state.schedulers:
        step_schedulers(state.schedulers, "step", state.global_step, state.eval_metrics)


def scale_gradients(state: State, factor: float) -> None:
    """Multiply every optimized parameter's gradient by ``factor``."""
    with torch.no_grad():
        for optimizer in state.optimizers:
            for group in getattr(optimizer, "param_groups", ()):  # duck-typed: none known
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad.mul_(factor)
