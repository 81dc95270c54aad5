"""Metrics log: every logged value once, as JSON Lines (rank 0 only)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch

from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["MetricsLog"]


class MetricsLog:
    """Append one JSON object per value to ``path``.

    Each record: ``{"time", "split", "name", "value", "epoch", "step"}`` where ``step`` is
    the global (optimizer) step. Written: the training loss every ``every_n_steps``
    optimizer steps (one host read then, none in between), the epoch's mean training loss
    and metrics at each epoch end (summed on the device during the epoch), and every value
    of every evaluation. The file is opened in append mode and flushed per line, so nothing
    already written is lost when a run dies.
    """

    name = "metrics_log"
    ranks = "main"

    def __init__(self, path: str | Path, *, every_n_steps: int | None = 50) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ConfigError(f"MetricsLog(every_n_steps={every_n_steps}): must be >= 1 or None")
        self.path = Path(path)
        self.every_n_steps = every_n_steps
        self._file: IO[str] | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._fitting = False

    def on_fit_start(self) -> None:
        self._fitting = True
        self._open()

    def on_epoch_start(self) -> None:
        self._sums, self._count = {}, 0

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        if result.loss is None:
            return
        values = {"loss": result.loss.detach(), **result.metrics}
        for name, value in values.items():
            previous = self._sums.get(name)
            self._sums[name] = value.detach() if previous is None else previous + value.detach()
        self._count += 1
        every = self.every_n_steps
        if every is not None and state.ends_window and state.global_step % every == 0:
            self._write(state, "train", {"loss": float(result.loss.detach())})

    def on_epoch_end(self, state: State) -> None:
        if self._count:
            names = list(self._sums)
            means = (torch.stack([self._sums[n] for n in names]) / self._count).tolist()
            self._write(state, "train_epoch", dict(zip(names, means, strict=True)))

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        self._open()
        self._write(state, split, metrics)
        if not self._fitting:  # a standalone evaluate() has no fit end to close the file
            self._close()

    def on_fit_end(self) -> None:
        self._close()

    def on_exception(self) -> None:
        self._close()

    def _open(self) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def _close(self) -> None:
        self._fitting = False
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, state: State, split: str, values: dict[str, Any]) -> None:
        if self._file is None:
            return
        now = time.time()
        for name, value in values.items():
            record = {
                "time": round(now, 3),
                "split": split,
                "name": name,
                "value": float(value),
                "epoch": state.epoch,
                "step": state.global_step,
            }
            self._file.write(json.dumps(record) + "\n")
