"""``LearningRateLog``: the learning rates into the run's ``metrics.jsonl``, for the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unitrain.errors import ConfigError
from unitrain.plugins.run_store import RUN_DIR

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["LearningRateLog"]


class LearningRateLog:
    """Every ``every_n_steps`` optimizer steps, one record with each param group's lr.

    Needs the run store (:class:`~unitrain.plugins.RunStore`), whose run directory it
    appends to; without one it does nothing. Names: ``lr`` for a single optimizer with one
    param group, else ``lr/<optimizer>.<group>``. Reading ``group["lr"]`` is a host value,
    not a device sync.
    """

    name = "lr_log"
    ranks = "main"

    def __init__(self, every_n_steps: int = 10) -> None:
        if every_n_steps < 1:
            raise ConfigError(f"LearningRateLog(every_n_steps={every_n_steps}): must be >= 1")
        self.every_n_steps = every_n_steps

    def on_train_step_end(self, state: State) -> None:
        if not state.ends_window or state.global_step % self.every_n_steps:
            return
        run = state.stash.get(RUN_DIR)
        if run is None:
            return
        groups = [
            (i, j, group["lr"])
            for i, optimizer in enumerate(state.optimizers)
            for j, group in enumerate(optimizer.param_groups)
        ]
        single = len(groups) == 1
        values = {("lr" if single else f"lr/{i}.{j}"): float(lr) for i, j, lr in groups}
        run.append_metrics(
            {"split": "train", "epoch": state.epoch, "step": state.global_step, **values}
        )
