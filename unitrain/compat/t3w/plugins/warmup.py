"""t3w's ``WarmUpSideEffect``: linear learning-rate warm-up."""

from __future__ import annotations

from typing import Any

from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.errors import ConfigError

__all__ = ["WarmUpSideEffect"]


class WarmUpSideEffect(ISideEffect):
    """Linear learning-rate warm-up over the first ``num_steps`` optimizer steps.

    Before each step while ``progress.step <= num_steps``, every parameter group's learning
    rate is ``progress.step / num_steps * base_lr``; ``base_lr`` is the scheduler's
    ``base_lrs`` or, without a scheduler, each group's starting rate.
    """

    def __init__(self, num_steps: int) -> None:
        if num_steps < 1:
            raise ConfigError(f"WarmUpSideEffect(num_steps={num_steps}): expected >= 1")
        self.num_steps = num_steps
        self.base_lrs: list[float] = []
        self.param_groups: list[dict[str, Any]] = []

    def on_train_started(self, loop: Any) -> None:
        model = loop.model
        optim = model.optim
        scheduler = getattr(model, "lr_scheduler", None)
        self.param_groups = optim.param_groups
        if scheduler is not None:
            self.base_lrs = list(scheduler.base_lrs)
        else:
            self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optim.param_groups]

    def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
        done = loop.model.training_progress.step
        if done <= self.num_steps:
            for base, group in zip(self.base_lrs, self.param_groups, strict=True):
                group["lr"] = done / self.num_steps * base
