"""Progress display: rich bars on a terminal, periodic plain lines otherwise.

Values are read from the device only when the display refreshes (on a timer) and once per
epoch, never once per step, so the display adds no host sync to the training loop. What it
shows is what the log records: the epoch's *mean* loss and metrics (summed on the device
during the epoch, like :class:`~unitrain.plugins.MetricsLog`), and the epoch under the same
number (``state.epoch``, counted from 0).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["ProgressBar"]


class ProgressBar:
    """Train and eval progress with live epoch means, speed and the fit's ETA (rank 0 only).

    On a terminal, rich bars refreshed every ``refresh_seconds``: the whole fit (optimizer
    steps, it/s, time left), the epoch (batches, the epoch's running means) and each
    evaluation (batches, of a known total when the loader has a length). When output is
    not a terminal (CI, a log file) or ``plain=True``, one line every
    ``plain_every_seconds`` and one line per epoch and per evaluation, with no control codes.
    """

    name = "progress"
    ranks = "main"

    def __init__(
        self,
        *,
        refresh_seconds: float = 0.25,
        plain_every_seconds: float = 30.0,
        plain: bool | None = None,
        console: Console | None = None,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.interval = plain_every_seconds if self.plain else refresh_seconds
        self._progress: Progress | None = None
        self._fit_bar: Any = None
        self._bar: Any = None
        self._next = 0.0
        self._shown = -1
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._started = 0.0
        self._start_step = 0
        self._fitting = False
        self._eval_bar: Any = None
        self._eval_next = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # devices="cpu:2" sends plugins to the new processes by pickling; a rich Console
        # holds locks and this process's terminal, so each process makes its own
        state = self.__dict__.copy()
        state.update(console=None, _progress=None, _fit_bar=None, _bar=None, _eval_bar=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.console = Console(stderr=True)

    # ------------------------------------------------------------ training

    def on_fit_start(self, state: State) -> None:
        self._started = time.monotonic()
        self._start_step = state.global_step
        self._fitting = True
        if not self.plain:
            # imported here: plain lines (CI, log files) need none of the live display
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[values]}"),
                console=self.console,
                auto_refresh=False,
            )
            self._progress.start()
            self._fit_bar = self._progress.add_task(
                "fit (steps)", total=None, completed=state.global_step, values="", speed=""
            )

    def on_epoch_start(self, state: State) -> None:
        self._shown = -1
        self._sums, self._count = {}, 0
        self._next = time.monotonic() + self.interval
        if self._progress is not None:
            self._bar = self._progress.add_task(
                self._epoch_name(state), total=state.epoch_length, values="", speed=""
            )

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        if result.loss is not None:
            for name, value in {"loss": result.loss, **result.metrics}.items():
                total = self._sums.get(name)
                if total is None:  # one accumulator per name and epoch, added to in place
                    self._sums[name] = value.detach().clone().float()
                else:
                    total.add_(value.detach())
            self._count += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self._show_train(state, state.batch_idx + 1)

    def on_epoch_end(self, state: State) -> None:
        if self._progress is not None:
            self._show_train(state, state.batch_idx + 1)
        line = f"{self._epoch_name(state)}: {self._values()}"
        for split, metrics in state.eval_metrics.items():
            line += f" | {split}: {_format(metrics)}"
        eta = self._eta(state)
        if eta:
            line += f" | {eta}"
        if self._progress is not None:
            self._progress.remove_task(self._bar)
            self._progress.console.print(line, highlight=False)
            self._progress.refresh()
        else:
            self.console.print(line, highlight=False, soft_wrap=True)

    def on_fit_end(self, state: State) -> None:
        self._close()
        elapsed = time.monotonic() - self._started
        steps = state.global_step - self._start_step
        speed = f", {steps / elapsed:.1f} steps/s" if elapsed > 0 and steps else ""
        self.console.print(f"fit done in {elapsed:.1f}s ({steps} steps{speed})", highlight=False)

    def on_exception(self) -> None:
        self._close()

    # ------------------------------------------------------------ evaluation

    def on_eval_start(self, state: State, split: str) -> None:
        if self._progress is not None:
            total = getattr(state, "eval_length", None)  # None: a loader without a length
            self._eval_bar = self._progress.add_task(
                f"eval {split}", total=total, values="", speed=""
            )
            self._eval_next = time.monotonic() + self.interval

    def on_eval_step_end(self, state: State) -> None:
        if self._progress is not None and time.monotonic() >= self._eval_next:
            self._eval_next = time.monotonic() + self.interval
            self._progress.update(self._eval_bar, completed=state.batch_idx + 1)
            self._progress.refresh()

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if self._progress is not None:
            self._progress.remove_task(self._eval_bar)
            self._progress.refresh()
        elif not self._fitting:  # during fit, the epoch line shows the evaluation
            self.console.print(f"eval {split}: {_format(metrics)}", highlight=False)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _epoch_name(state: State) -> str:
        """``epoch 0 [1/30]``: the epoch as the logs number it, then how far the fit is."""
        total = f"/{state.max_epochs}" if state.max_epochs else ""
        return f"epoch {state.epoch} [{state.epoch + 1}{total}]"

    def _show_train(self, state: State, done: int) -> None:
        speed = self._speed(state)
        if self._progress is not None:
            self._progress.update(self._bar, completed=done, values=self._values())
            self._progress.update(
                self._fit_bar,
                completed=state.global_step,
                total=self._total_steps(state),
                speed=speed,
            )
            self._progress.refresh()
        elif done != self._shown:
            total = f"/{state.epoch_length}" if state.epoch_length else ""
            eta = self._eta(state)
            tail = " | ".join(part for part in (speed, eta) if part)
            self.console.print(
                f"{self._epoch_name(state)} batch {done}{total}: {self._values()}"
                + (f" | {tail}" if tail else ""),
                highlight=False,
                soft_wrap=True,
            )
        self._shown = done

    def _values(self) -> str:
        """The epoch's running means: one transfer of all sums."""
        if not self._count:
            return ""
        names = list(self._sums)
        means = (torch.stack([self._sums[n].float() for n in names]) / self._count).tolist()
        return _format(dict(zip(names, means, strict=True)))

    def _speed(self, state: State) -> str:
        elapsed = time.monotonic() - self._started
        steps = state.global_step - self._start_step
        return f"{steps / elapsed:.1f} it/s" if elapsed > 0 and steps > 0 else ""

    @staticmethod
    def _total_steps(state: State) -> int | None:
        """Optimizer steps of the whole fit, when known."""
        by_epochs = None
        if state.max_epochs and state.epoch_length:
            by_epochs = state.max_epochs * math.ceil(state.epoch_length / state.accumulation)
        if state.max_steps and by_epochs:
            return min(state.max_steps, by_epochs)
        return state.max_steps or by_epochs

    def _eta(self, state: State) -> str:
        """``ETA 1:32`` for the whole fit, from this process's speed so far."""
        total = self._total_steps(state)
        elapsed = time.monotonic() - self._started
        steps = state.global_step - self._start_step
        if total is None or steps <= 0 or elapsed <= 0:
            return ""
        left = max(total - state.global_step, 0) * elapsed / steps
        minutes, seconds = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        return f"ETA {clock}"

    def _close(self) -> None:
        self._fitting = False
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4g}" for name, value in metrics.items())
