"""``EarlyStopping``: end the fit when an evaluation metric stops improving.

After each evaluation of ``split``, the monitored value is compared with the best seen so
far: an improvement by more than ``min_delta`` resets the wait, anything else counts one
evaluation towards ``patience``. The fit stops (``state.request_stop("now")``: the current
step finishes, the epoch is closed, no further evaluation) when

- ``patience`` evaluations in a row brought no improvement;
- the value reaches ``stopping_threshold`` (good enough);
- the value passes ``divergence_threshold`` the wrong way (hopeless);
- the value is NaN or inf and ``check_finite`` is on.

Its counters (best value, wait, the reason it stopped) are in every checkpoint, so a resumed
run stops at the same evaluation as an uninterrupted one. The reason is also written to
``state.stop_reason`` and the log.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from unitrain.errors import ConfigError
from unitrain.log import get_logger

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["EarlyStopping"]

Mode = Literal["min", "max"]
_log = get_logger("plugins.early_stopping")


class EarlyStopping:
    """Stop when ``metrics[monitor]`` of the ``split`` evaluation has stopped improving."""

    name = "early_stopping"

    def __init__(
        self,
        monitor: str = "loss",
        *,
        split: str = "val",
        mode: Mode = "min",
        patience: int = 3,
        min_delta: float = 0.0,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_finite: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ConfigError(
                f"EarlyStopping(mode={mode!r}): expected 'min' (lower is better, e.g. a loss) "
                "or 'max' (higher is better, e.g. accuracy)"
            )
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"EarlyStopping(patience={patience!r}): expected an int >= 1")
        if not math.isfinite(min_delta) or min_delta < 0:
            raise ConfigError(
                f"EarlyStopping(min_delta={min_delta!r}): expected a finite number >= 0 (the "
                "improvement that counts; the direction comes from mode)"
            )
        self.monitor, self.split, self.mode = monitor, split, mode
        self.patience, self.min_delta = patience, float(min_delta)
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.check_finite = check_finite
        self.best: float | None = None
        self.wait = 0
        self.stopped_reason = ""
        self.stopped_at: dict[str, int] | None = None
        self._fitting = False

    # ---------------------------------------------------------------- checkpoint state

    def state_dict(self) -> dict[str, Any]:
        """The best value, the wait count and why (and where) it stopped."""
        return {
            "best": self.best,
            "wait": self.wait,
            "stopped_reason": self.stopped_reason,
            "stopped_at": self.stopped_at,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave."""
        self.best = None if saved["best"] is None else float(saved["best"])
        self.wait = int(saved["wait"])
        self.stopped_reason = str(saved["stopped_reason"])
        self.stopped_at = saved["stopped_at"]

    # ---------------------------------------------------------------- the decision

    def on_fit_start(self) -> None:
        self._fitting = True

    def on_fit_end(self) -> None:
        self._fitting = False

    def on_exception(self) -> None:
        self._fitting = False

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if split != self.split or not self._fitting:
            return  # a stand-alone evaluate() or another split does not count
        if self.monitor not in metrics:
            known = ", ".join(sorted(metrics)) or "none"
            raise ConfigError(
                f"EarlyStopping(monitor={self.monitor!r}, split={self.split!r}): the "
                f"{split!r} evaluation has no metric {self.monitor!r}; it has: {known}. "
                "Pass one of those as monitor=, or add the metric to the Task"
            )
        reason = self.judge(float(metrics[self.monitor]))
        if reason:
            self.stopped_reason = reason
            self.stopped_at = {"epoch": state.epoch, "global_step": state.global_step}
            _log.info("early stopping at epoch %d: %s", state.epoch, reason)
            state.request_stop("now", reason=f"early stopping: {reason}")

    def judge(self, value: float) -> str:
        """Take one evaluation's value; return why to stop, or ``""`` to go on."""
        name = f"{self.split}/{self.monitor}"
        if not math.isfinite(value):
            return f"{name} is {value}" if self.check_finite else ""
        if self.stopping_threshold is not None and self._reached(value, self.stopping_threshold):
            return f"{name} = {value:.6g} reached stopping_threshold {self.stopping_threshold}"
        if self.divergence_threshold is not None and self._reached(
            self.divergence_threshold, value
        ):
            return f"{name} = {value:.6g} is past divergence_threshold {self.divergence_threshold}"
        if self.best is None or self._improves(value, self.best):
            self.best, self.wait = value, 0
            return ""
        self.wait += 1
        if self.wait >= self.patience:
            return (
                f"{name} did not improve by more than {self.min_delta} on {self.best:.6g} for "
                f"{self.wait} evaluations (patience {self.patience})"
            )
        return ""

    def _improves(self, value: float, best: float) -> bool:
        """Strictly better than ``best`` by more than ``min_delta`` (an equal value waits)."""
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def _reached(self, value: float, threshold: float) -> bool:
        """``value`` is at ``threshold`` or beyond it in the good direction."""
        return value <= threshold if self.mode == "min" else value >= threshold
