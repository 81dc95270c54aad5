"""``lr_find``: a learning-rate range test that suggests a rate and plots it.

It trains a few steps with the learning rate of every param group raised geometrically (or
linearly) from ``min_lr`` to ``max_lr``, records the loss of each step smoothed by an
exponential moving average, stops early once the smoothed loss exceeds ``divergence`` times
the best one, and suggests the rate where the smoothed loss falls fastest (the steepest
negative slope against log-lr; Leslie Smith's range test, as fastai and Lightning do it).

Nothing of the user's is changed: the model's weights and buffers, an optimizer instance's
state and every random generator's state are restored afterwards, so a fit started next runs
exactly as it would have without the test.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.errors import ConfigError, StateError

if TYPE_CHECKING:
    import os

    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["LRFinderResult", "LRRangeTest", "lr_find"]

Mode = Literal["exponential", "linear"]


@dataclass
class LRFinderResult:
    """The rates tried, the smoothed loss at each, and the suggested rate."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    stopped_early: bool = False

    def suggestion(self, skip_start: int = 5, skip_end: int = 1) -> float:
        """The rate of the steepest descent of the smoothed loss (against log-lr)."""
        end = len(self.losses) - skip_end
        if end - skip_start < 2:
            raise StateError(
                f"lr_find recorded {len(self.losses)} steps, too few to suggest a rate after "
                f"skipping {skip_start} at the start and {skip_end} at the end: raise "
                "num_steps, lower min_lr, or raise divergence"
            )
        logs = [math.log(lr) for lr in self.lrs]
        slopes = [
            (self.losses[i + 1] - self.losses[i - 1]) / (logs[i + 1] - logs[i - 1])
            for i in range(max(skip_start, 1), min(end, len(self.losses) - 1))
        ]
        best = min(range(len(slopes)), key=slopes.__getitem__)
        return self.lrs[max(skip_start, 1) + best]

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Loss against learning rate (log scale) with the suggestion marked, as a PNG."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ConfigError(
                "LRFinderResult.plot needs matplotlib: pip install 'unitrain[report]'"
            ) from error
        suggested = self.suggestion()
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(self.lrs, self.losses)
        axes.axvline(suggested, color="tab:red", linestyle="--", label=f"suggested {suggested:.2g}")
        axes.set(xscale="log", xlabel="learning rate", ylabel="loss (smoothed)")
        axes.legend()
        figure.tight_layout()
        target = Path(path)
        figure.savefig(target)
        plt.close(figure)
        return target


class LRRangeTest:
    """The plugin that sets each step's rate and records its loss (see :func:`lr_find`)."""

    name = "lr_range_test"

    def __init__(
        self,
        min_lr: float,
        max_lr: float,
        num_steps: int,
        mode: Mode,
        smoothing: float,
        divergence: float,
    ) -> None:
        self.min_lr, self.max_lr, self.num_steps = min_lr, max_lr, num_steps
        self.mode, self.smoothing, self.divergence = mode, smoothing, divergence
        self.result = LRFinderResult()
        self._average = 0.0
        self._best = math.inf

    def rate(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based)."""
        fraction = step / max(self.num_steps - 1, 1)
        if self.mode == "linear":
            return self.min_lr + fraction * (self.max_lr - self.min_lr)
        return float(self.min_lr * (self.max_lr / self.min_lr) ** fraction)

    def on_train_step_start(self, state: State) -> None:
        lr = self.rate(state.global_step)
        for optimizer in state.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        if not state.ends_window or result.loss is None:
            return
        step = state.global_step - 1
        loss = float(result.loss.detach())  # one host read a step: the test needs each value
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (step + 1))  # bias-corrected
        self.result.lrs.append(self.rate(step))
        self.result.losses.append(smoothed)
        self._best = min(self._best, smoothed)
        if not math.isfinite(smoothed) or smoothed > self.divergence * self._best:
            self.result.stopped_early = True
            state.request_stop("now", reason="lr_find: the loss diverged")


def lr_find(
    task: Any,
    train_data: object,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: Mode = "exponential",
    smoothing: float = 0.98,
    divergence: float = 4.0,
    device: str | None = None,
) -> LRFinderResult:
    """Run the range test on ``task`` over ``train_data``; see the module docstring."""
    problems = []
    if not 0 < min_lr < max_lr:
        problems.append(f"min_lr={min_lr}, max_lr={max_lr}: need 0 < min_lr < max_lr")
    if num_steps < 3:
        problems.append(f"num_steps={num_steps}: need at least 3 steps")
    if mode not in ("exponential", "linear"):
        problems.append(f"mode={mode!r}: expected 'exponential' or 'linear'")
    if not 0 <= smoothing < 1:
        problems.append(f"smoothing={smoothing}: need 0 <= smoothing < 1")
    if divergence <= 1:
        problems.append(f"divergence={divergence}: need a factor > 1")
    if problems:
        raise ConfigError("lr_find: " + "; ".join(problems))
    from unitrain import Trainer  # the top-level facade: this module sits above it

    model: torch.nn.Module = task.model
    saved_model = copy.deepcopy(model.state_dict())
    optimizer = getattr(task, "optimizer", None)
    saved_optimizer = (
        copy.deepcopy(optimizer.state_dict())
        if isinstance(optimizer, torch.optim.Optimizer)
        else None
    )
    saved_rng = (random.getstate(), torch.get_rng_state(), _numpy_state())
    probe = LRRangeTest(min_lr, max_lr, num_steps, mode, smoothing, divergence)
    try:
        Trainer(task, plugins=[probe], max_steps=num_steps, device=device).fit(train_data)
    finally:
        model.load_state_dict(saved_model)
        if saved_optimizer is not None and optimizer is not None:
            optimizer.load_state_dict(saved_optimizer)
        random.setstate(saved_rng[0])
        torch.set_rng_state(saved_rng[1])
        _set_numpy_state(saved_rng[2])
    return probe.result


def _numpy_state() -> Any:
    try:
        import numpy as np
    except ImportError:
        return None
    return np.random.get_state()


def _set_numpy_state(saved: Any) -> None:
    if saved is not None:
        import numpy as np

        np.random.set_state(saved)
