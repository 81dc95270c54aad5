"""Progress display: rich bars on a terminal, periodic plain lines otherwise.

Values are read from the device only when the display refreshes (on a timer), never once
per step, so the display adds no host sync to the training loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    import torch

    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["ProgressBar"]


class ProgressBar:
    """Train and eval progress with live loss and metrics (rank 0 only).

    On a terminal, rich bars refreshed every ``refresh_seconds``; when output is not a
    terminal (CI, a log file) or ``plain=True``, one line every ``plain_every_seconds`` and
    one line per epoch and per evaluation.
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
        self._bar: Any = None
        self._next = 0.0
        self._shown = 0
        self._latest: StepResult | None = None
        self._started = 0.0
        self._fitting = False
        self._eval_bar: Any = None
        self._eval_next = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # devices="cpu:2" sends plugins to the new processes by pickling; a rich Console
        # holds locks and this process's terminal, so each process makes its own
        state = self.__dict__.copy()
        state.update(console=None, _progress=None, _bar=None, _eval_bar=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.console = Console(stderr=True)

    # ------------------------------------------------------------ training

    def on_fit_start(self, state: State) -> None:
        self._started = time.monotonic()
        self._fitting = True
        if not self.plain:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[values]}"),
                console=self.console,
                auto_refresh=False,
            )
            self._progress.start()

    def on_epoch_start(self, state: State) -> None:
        self._shown = 0
        self._next = time.monotonic() + self.interval
        if self._progress is not None:
            epochs = f"/{state.max_epochs}" if state.max_epochs else ""
            self._bar = self._progress.add_task(
                f"epoch {state.epoch + 1}{epochs}", total=state.epoch_length, values=""
            )

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        self._latest = result
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self._show_train(state, state.batch_idx + 1)

    def on_epoch_end(self, state: State) -> None:
        if self._progress is not None:
            self._show_train(state, state.batch_idx)
        line = f"epoch {state.epoch + 1}: {self._values()}"
        for split, metrics in state.eval_metrics.items():
            line += f" | {split}: {_format(metrics)}"
        if self._progress is not None:
            self._progress.remove_task(self._bar)
            self._progress.console.print(line, highlight=False)
            self._progress.refresh()
        else:
            self.console.print(line, highlight=False, soft_wrap=True)

    def on_fit_end(self) -> None:
        self._close()
        elapsed = time.monotonic() - self._started
        self.console.print(f"fit done in {elapsed:.1f}s", highlight=False)

    def on_exception(self) -> None:
        self._close()

    # ------------------------------------------------------------ evaluation

    def on_eval_start(self, state: State, split: str) -> None:
        if self._progress is not None:
            self._eval_bar = self._progress.add_task(f"eval {split}", total=None, values="")
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

    def _show_train(self, state: State, done: int) -> None:
        if self._progress is not None:
            self._progress.update(self._bar, completed=done, values=self._values())
            self._progress.refresh()
        elif done != self._shown:
            total = f"/{state.epoch_length}" if state.epoch_length else ""
            self.console.print(
                f"epoch {state.epoch + 1} step {done}{total}: {self._values()}",
                highlight=False,
                soft_wrap=True,
            )
        self._shown = done

    def _values(self) -> str:
        result = self._latest
        if result is None or result.loss is None:
            return ""
        values: dict[str, torch.Tensor] = {"loss": result.loss, **result.metrics}
        return _format({name: float(value.detach()) for name, value in values.items()})

    def _close(self) -> None:
        self._fitting = False
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4g}" for name, value in metrics.items())
