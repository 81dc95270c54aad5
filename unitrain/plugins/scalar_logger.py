"""What the logger plugins record from training, and when: shared by every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["ScalarLogger"]


class ScalarLogger:
    """Base of the logger plugins (JSON Lines, TensorBoard, MLflow).

    Records the training loss every ``every_n_steps`` optimizer steps (one host read then,
    none in between) and, at each epoch end, the epoch's mean loss and metrics, summed on the
    device during the epoch and read in one transfer. A backend implements :meth:`write` and
    its own evaluation, start and close hooks.
    """

    def __init__(self, every_n_steps: int | None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ConfigError(
                f"{type(self).__name__}(every_n_steps={every_n_steps}): must be >= 1 or None"
            )
        self.every_n_steps = every_n_steps
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._fitting = False  # False: a standalone evaluate(), which has no fit end

    def write(self, state: State, split: str, values: dict[str, Any]) -> None:
        """Record ``values`` (name → number) of ``split`` at the state's position."""
        raise TypeError(f"{type(self).__name__} must define write(state, split, values)")

    def on_epoch_start(self) -> None:
        self._sums, self._count = {}, 0

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        if result.loss is None or state.dry_run:  # fast_dev_run writes nothing
            return
        values = {"loss": result.loss, **result.metrics}
        for name, value in values.items():
            total = self._sums.get(name)
            if total is None:  # one accumulator per name and epoch, then added to in place
                self._sums[name] = value.detach().clone()
            else:
                total.add_(value.detach())
        self._count += 1
        every = self.every_n_steps
        if every is not None and state.ends_window and state.global_step % every == 0:
            self.write(state, "train", {"loss": float(result.loss.detach())})

    def on_epoch_end(self, state: State) -> None:
        if self._count:  # none in a dry run (fast_dev_run)
            names = list(self._sums)
            means = (torch.stack([self._sums[n] for n in names]) / self._count).tolist()
            self.write(state, "train_epoch", dict(zip(names, means, strict=True)))
