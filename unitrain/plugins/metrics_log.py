"""Metrics log: every logged value once, as JSON Lines (rank 0 only)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from unitrain.log import get_logger
from unitrain.plugins.scalar_logger import ScalarLogger

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["MetricsLog"]

_log = get_logger("metrics_log")


class MetricsLog(ScalarLogger):
    """Write one JSON object per value to ``path``, one file per run.

    Each record: ``{"time", "split", "name", "value", "epoch", "step"}`` where ``step`` is
    the global (optimizer) step. Written: the training loss every ``every_n_steps``
    optimizer steps (one host read then, none in between), the epoch's mean training loss
    and metrics at each epoch end (summed on the device during the epoch), and every value
    of every evaluation. Lines are flushed one by one, so nothing already written is lost
    when a run dies.

    Runs never mix: a fit from step 0 whose ``path`` already holds records (an earlier run)
    writes to the first free ``<stem>.<n><suffix>`` beside it (``metrics.2.jsonl``) and says
    so; :attr:`written` is the file in use. A resumed fit (from a checkpoint at step T)
    continues its own file, which the checkpoint names, dropping the records the
    interrupted attempt wrote after step T.
    """

    name = "metrics_log"
    ranks = "main"

    def __init__(self, path: str | Path, *, every_n_steps: int | None = 50) -> None:
        super().__init__(every_n_steps)
        self.path = Path(path)
        self.written: Path | None = None  # the file this run writes, once chosen
        self._resume_file: Path | None = None
        self._file: IO[str] | None = None

    def state_dict(self) -> dict[str, Any]:
        """The file this run writes, so a resumed fit continues it."""
        return {"written": None if self.written is None else str(self.written)}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        written = saved.get("written")
        self._resume_file = None if written is None else Path(written)

    def on_fit_start(self, state: State) -> None:
        self._fitting = True
        if state.dry_run:  # fast_dev_run writes nothing
            return
        if state.global_step > 0:  # resumed (or a later fit of the same trainer)
            target = self._resume_file or self.written or self.path
            self._resume_file = None
            if target != self.written:
                self._close_file()
                _drop_after(target, state.global_step)
            self.written = target
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
        if self._file is not None:
            return
        if self.written is None:
            self.written = _fresh_file(self.path)
            if self.written != self.path:
                _log.info("%s holds an earlier run: writing %s", self.path, self.written.name)
        self.written.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.written.open("a", encoding="utf-8", buffering=1)

    def _close(self) -> None:
        self._fitting = False
        self._close_file()

    def _close_file(self) -> None:
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


def _fresh_file(path: Path) -> Path:
    """``path`` when it holds nothing yet, else the first free ``<stem>.<n><suffix>``."""
    candidate, n = path, 1
    while candidate.exists() and candidate.stat().st_size > 0:
        n += 1
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
    return candidate


def _drop_after(path: Path, step: int) -> None:
    """Keep the records up to ``step`` (and a torn last line out): what a resume at
    ``step`` has seen. Written to a temporary file and renamed, so a crash keeps the old."""
    if not path.is_file():
        return
    kept: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            kept.append(line)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    os.replace(partial, path)
