"""t3w's ``TqdmSideEffect``: progress bars for epochs, train steps and eval passes.

Where t3w wrote: the bars go to standard error and each evaluation's summary line
(``{'epoch': E, 'metric': value, ...}``) to standard output. On a terminal the bars are
live (drawn with rich, which unitrain already uses; t3w used tqdm). When standard error is
not a terminal (a log file, a pipe, CI), each bar is written as plain text lines instead:
``Train 3: 10/10 nll=1.0*0.1234`` at most every ``text_seconds`` and when the bar finishes,
so a redirected log shows the progress that t3w's tqdm wrote there.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TextIO

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.side_effect import ISideEffect

__all__ = ["TqdmSideEffect"]


class _TextBar:
    """One progress bar as text lines (for a stream that is not a terminal)."""

    def __init__(self, stream: TextIO, description: str, total: int | None, every: float):
        self.stream, self.description, self.total, self.every = stream, description, total, every
        self.count, self.written_at = 0, time.monotonic()
        self.postfix: Callable[[], str] | None = None  # formatted only when a line is written

    def advance(self, postfix: Callable[[], str] | None = None) -> None:
        self.count += 1
        if postfix is not None:
            self.postfix = postfix
        if time.monotonic() - self.written_at >= self.every:
            self.write()

    def write(self) -> None:
        total = "?" if self.total is None else str(self.total)
        text = self.postfix() if self.postfix is not None else ""
        tail = f" {text}" if text else ""
        self.stream.write(f"{self.description}: {self.count}/{total}{tail}\n")
        self.stream.flush()
        self.written_at = time.monotonic()


class TqdmSideEffect(ISideEffect):
    """Progress bars for epochs, train steps and eval passes, and the eval metrics written
    at the end of each pass (see the module docstring for where each goes).

    ``postfix_keys`` picks the losses / metrics shown beside the step bar (empty: all);
    losses show as ``reweight*raw``. Reading a value waits for the device, so the postfix
    is refreshed at most every ``refresh_seconds``. ``smoothing`` is accepted for
    compatibility (rich smooths its own speed estimate). ``console`` (a rich console) draws
    live bars on it whatever it is attached to; ``file`` replaces standard error.
    """

    def __init__(
        self,
        postfix_keys: Sequence[str] = (),
        smoothing: float = 0.9,
        *,
        console: Console | None = None,
        file: TextIO | None = None,
        refresh_seconds: float = 0.2,
        text_seconds: float = 10.0,
    ) -> None:
        self.postfix_keys = list(postfix_keys)
        self.smoothing = smoothing
        self.console = console
        self.file = file
        self.refresh_seconds = refresh_seconds
        self.text_seconds = text_seconds
        self.lines: list[str] = []  # the eval summaries written, also kept for inspection
        self._progress: Progress | None = None
        self._text: dict[str, _TextBar] = {}
        self._epochs: TaskID | None = None
        self._steps: TaskID | None = None
        self._eval: TaskID | None = None
        self._shown_at = 0.0

    # ------------------------------------------------------------------ the two outputs

    def _stream(self) -> TextIO:
        return self.file if self.file is not None else sys.stderr

    def _live(self) -> bool:
        if self.console is not None:
            return True
        isatty = getattr(self._stream(), "isatty", None)
        return bool(isatty()) if callable(isatty) else False

    def _bars(self) -> Progress:
        if self._progress is None:
            console = self.console or Console(file=self._stream())
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[postfix]}"),
                console=console,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def _open(self, key: str, description: str, total: int | None) -> TaskID | None:
        if self._live():
            return self._bars().add_task(description, total=total, postfix="")
        self._text[key] = _TextBar(self._stream(), description, total, self.text_seconds)
        return None

    def _advance(self, key: str, task: TaskID | None, postfix: str | None = None) -> None:
        if key in self._text:
            self._text[key].advance()
        elif task is not None and self._progress is not None:
            if postfix is None:
                self._progress.advance(task)
            else:
                self._progress.update(task, advance=1, postfix=postfix)

    def _finish(self, key: str, task: TaskID | None) -> None:
        bar = self._text.pop(key, None)
        if bar is not None:
            bar.write()
        elif task is not None and self._progress is not None:
            self._progress.remove_task(task)

    # ------------------------------------------------------------------ t3w's events

    def on_train_started(self, loop: Any) -> None:
        self._epochs = self._open("epochs", "Epochs", loop.epochs)

    def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
        total = loop.iter_per_epoch or (len(loop.loader) if loop.loader is not None else None)
        if total is None:  # in a spawned process the engine holds this rank's loader
            total = getattr(getattr(loop, "progress", None), "steps_per_epoch", None)
        self._steps = self._open("train", f"Train {epoch}", total)

    def on_train_step_finished(
        self, loop: Any, step: int, mb: Any, step_return: StepReturnDict
    ) -> None:
        text = self._text.get("train")
        if text is not None:  # the latest values, read from the device only when written
            text.advance(partial(_postfix, step_return, self.postfix_keys))
            return
        now = time.monotonic()
        if now - self._shown_at < self.refresh_seconds:
            self._advance("train", self._steps)
            return
        self._shown_at = now
        self._advance("train", self._steps, _postfix(step_return, self.postfix_keys))

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        self._finish("train", self._steps)
        self._steps = None
        self._advance("epochs", self._epochs)

    def on_train_finished(self, loop: Any) -> None:
        self._finish("epochs", self._epochs)
        self._close()

    def on_exception(self, state: Any, error: BaseException) -> None:
        """A native hook: stop the bars' refresh thread when a fit fails."""
        self._close()

    def on_eval_started(self, loop: Any) -> None:
        total = len(loop.loader) if getattr(loop, "loader", None) is not None else None
        self._eval = self._open("eval", f"Eval {_epoch(loop)}", total)

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        self._advance("eval", self._eval)

    def on_eval_finished(self, loop: Any) -> None:
        self._finish("eval", self._eval)
        self._eval = None
        line = repr({"epoch": _epoch(loop), **loop.metric_values})
        self.lines.append(line)
        if self.console is not None:  # the caller chose where everything goes
            self.console.print(line, markup=False, highlight=False)
        else:  # t3w's tqdm.write: standard output (above live bars, which rich redirects)
            print(line, file=sys.stdout, flush=True)
        if self._epochs is None and "epochs" not in self._text:  # a standalone evaluation
            self._close()

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._epochs = self._steps = self._eval = None
        self._text.clear()


def _epoch(loop: Any) -> int:
    model = getattr(loop, "model", None)
    progress = getattr(model, "training_progress", None) or getattr(loop, "progress", None)
    return int(progress.epoch) if progress is not None else 0


def _postfix(step_return: StepReturnDict, keys: Sequence[str]) -> str:
    losses, metrics = step_return.get("losses", {}), step_return.get("metrics", {})
    parts = []
    for key in keys or [*losses, *metrics]:
        if key in losses:
            weight, raw = losses[key]
            parts.append(f"{key}={weight}*{_format(raw)}")
        elif key in metrics:
            parts.append(f"{key}={_format(metrics[key])}")
    return " ".join(parts)


def _format(value: Any) -> str:
    number = float(value.detach().item() if isinstance(value, torch.Tensor) else value)
    return "nan" if math.isnan(number) else f"{number:.4f}"[:6]
