"""Metrics log: every logged value once, as JSON Lines (rank 0 only)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from unitrain.plugins.scalar_logger import ScalarLogger

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["MetricsLog"]


class MetricsLog(ScalarLogger):
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
        super().__init__(every_n_steps)
        self.path = Path(path)
        self._file: IO[str] | None = None

    def on_fit_start(self, state: State) -> None:
        self._fitting = True
        if state.dry_run:  # fast_dev_run writes nothing
            return
        self._open()

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if state.dry_run:  # fast_dev_run writes nothing
            return
        self._open()
        self.write(state, split, metrics)
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

    def write(self, state: State, split: str, values: dict[str, Any]) -> None:
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
