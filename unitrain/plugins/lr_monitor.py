"""``LearningRateMonitor``: every param group's learning rate (and momentum), as it trains.

Every ``every_n_steps`` optimizer steps (``logging_interval="step"``) or at each epoch
start (``"epoch"``: the rate the epoch trains with) it records one entry per param group:
in ``history`` (a list of ``{"step", "epoch", <name>: lr, ...}``), and, when a run store
is present, as one record of the run's ``metrics.jsonl`` (split ``train``), which the
report draws as the LR curve.
Names: ``lr`` for a single optimizer with one param group, else ``lr/<optimizer>.<group>``;
with ``log_momentum`` also ``momentum...`` (SGD's ``momentum`` or Adam's first beta).
Reading ``group["lr"]`` is a host value, never a device sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from unitrain.errors import ConfigError
from unitrain.plugins.run_store import RUN_DIR

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["LearningRateMonitor"]

Interval = Literal["step", "epoch"]


class LearningRateMonitor:
    """The learning rate of every param group, per step or per epoch."""

    name = "lr_monitor"
    ranks = "main"

    def __init__(
        self,
        logging_interval: Interval = "step",
        *,
        every_n_steps: int = 1,
        log_momentum: bool = False,
    ) -> None:
        if logging_interval not in ("step", "epoch"):
            raise ConfigError(
                f"{type(self).__name__}(logging_interval={logging_interval!r}): expected "
                "'step' or 'epoch'"
            )
        if (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, int)
            or every_n_steps < 1
        ):
            raise ConfigError(f"{type(self).__name__}(every_n_steps={every_n_steps}): must be >= 1")
        self.logging_interval, self.every_n_steps = logging_interval, every_n_steps
        self.log_momentum = log_momentum
        self.history: list[dict[str, Any]] = []

    def on_train_step_end(self, state: State) -> None:
        if self.logging_interval == "step" and state.ends_window:
            if state.global_step % self.every_n_steps == 0:
                self._record(state)

    def on_epoch_start(self, state: State) -> None:
        # at the start: the rate this epoch trains with (per-epoch schedulers step at its end)
        if self.logging_interval == "epoch":
            self._record(state)

    def _record(self, state: State) -> None:
        groups = [
            (i, j, group)
            for i, optimizer in enumerate(state.optimizers)
            for j, group in enumerate(optimizer.param_groups)
        ]
        single = len(groups) == 1
        values: dict[str, float] = {}
        for i, j, group in groups:
            suffix = "" if single else f"/{i}.{j}"
            values[f"lr{suffix}"] = float(group["lr"])
            momentum = _momentum(group)
            if self.log_momentum and momentum is not None:
                values[f"momentum{suffix}"] = momentum
        record = {"epoch": state.epoch, "step": state.global_step, **values}
        self.history.append(record)
        run = state.stash.get(RUN_DIR)
        if run is not None:
            run.append_metrics({"split": "train", **record})


def _momentum(group: dict[str, Any]) -> float | None:
    if "momentum" in group:
        return float(group["momentum"])
    betas = group.get("betas")
    return float(betas[0]) if betas else None
