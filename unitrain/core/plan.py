"""What the training step calls, looked up once per plugin set.

The step (:func:`unitrain.core.loop.train_step`) runs nine hooks. Through the relay
each would cost a call even with no implementation, and a stage implemented only by the
task would cost the relay's call on top of the task's method. :func:`step_plan` asks the
manager (:meth:`~unitrain.hooks.manager.PluginManager.bound`) once per plugin set for the
cheapest caller of each: ``None`` for a hook nobody implements (the step skips it), the
implementation itself for a hook with one plain implementation that takes the hook's
arguments (the task's default stages, usually), else the compiled relay. The plan is kept
in the manager's ``plans``, which a registration or removal empties, and so does the
engine when it makes the optimizers: beside the plan is kept the *lone optimizer*, the one
torch optimizer of a fit whose step no event surrounds (no ``on_before_optimizer_step`` /
``on_after_optimizer_step`` implementation), which the step then steps and clears without
the loop over optimizers (:func:`unitrain.core.window.step_optimizers`).

A caller handed out directly adds no note to an error, so the step catches what comes out
of it and asks the manager to note it (:data:`STEP_HOOKS` names the candidates). A plugin
registered during a step is called from the next step on, as pluggy calls a plugin
registered during a hook call from the next call of that hook on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager

__all__ = ["PLAN", "STEP_HOOKS", "StepPlan", "step_plan", "step_plans"]

STEP_HOOKS = (
    "on_train_step_start",
    "run_prepare_batch",
    "run_forward",
    "run_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "run_optimizer_step",
    "on_after_optimizer_step",
    "on_train_step_end",
)

Call = Callable[..., Any] | None


@dataclass(slots=True, frozen=True)
class StepPlan:
    """One caller per hook of :data:`STEP_HOOKS`, in that order; ``None``: not implemented."""

    on_start: Call
    prepare: Call
    forward: Call
    backward: Call
    on_backward: Call
    on_before: Call
    optimizer_step: Call
    on_after: Call
    on_end: Call


PLAN = "train_step"
"""The key in ``PluginManager.plans`` of the pair ``(plan, lone optimizer)``."""


def step_plan(plugins: PluginManager) -> StepPlan:
    """The plan for ``plugins`` as registered now (built on first use after a change)."""
    return step_plans(plugins, plugins.state)[0]


def step_plans(plugins: PluginManager, state: State | None) -> tuple[StepPlan, Any]:
    """The plan and the lone optimizer (``None`` unless the fit has exactly one torch
    optimizer and no plugin listens around its step), built on first use after a change
    of the plugin set or of the optimizers."""
    cached: tuple[StepPlan, Any] | None = plugins.plans.get(PLAN)
    if cached is None:
        plan = StepPlan(*(plugins.bound(hook) for hook in STEP_HOOKS))
        optimizers = () if state is None else state.optimizers
        lone = None
        if (
            len(optimizers) == 1
            and isinstance(optimizers[0], torch.optim.Optimizer)
            and plan.optimizer_step is not None
            and plan.on_before is None
            and plan.on_after is None
        ):
            lone = optimizers[0]
        cached = plugins.plans[PLAN] = (plan, lone)
    return cached
