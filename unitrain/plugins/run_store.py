"""The run store plugin: every fit gets a run directory with run.json and metrics.jsonl.

See :mod:`unitrain.runs.store` for the layout. On ``fit`` it creates
``<root>/<experiment>/<timestamp>-<id>`` (or reopens the run a resumed checkpoint belongs to,
counting a restart), keeps ``run.json`` current (status RUNNING → COMPLETED / FAILED /
INTERRUPTED, a heartbeat, the best value of ``monitor``) and appends to ``metrics.jsonl``
the training loss every ``log_every_n_steps`` optimizer steps and every evaluation's values.
Its own state (run directory, metrics offset, best value) goes into each checkpoint, so a
resume truncates metrics.jsonl to what the checkpoint had seen.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.core.stash import StashKey
from unitrain.errors import ConfigError
from unitrain.runs.metrics import MetricsWriter
from unitrain.runs.store import RunDir, RunStatus, create_run
from unitrain.seeding import SEED_VARIABLE

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["RUN_DIR", "RunStore"]

#: The current run directory, for other plugins (checkpoints, artifacts, snapshots).
RUN_DIR: StashKey[RunDir] = StashKey("run_store.run_dir")


class RunStore:
    """Writes ``runs/<experiment>/<id>/{run.json, metrics.jsonl, checkpoints/, artifacts/}``."""

    name = "run_store"
    order = -1000  # first: the run directory exists before other plugins' on_fit_start
    ranks = "main"

    def __init__(
        self,
        root: str | os.PathLike[str] = "runs",
        experiment: str = "default",
        *,
        log_every_n_steps: int | None = 10,
        monitor: str = "loss",
        split: str = "val",
        mode: Literal["min", "max"] = "min",
        heartbeat_every: float = 30.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        if log_every_n_steps is not None and log_every_n_steps < 1:
            raise ConfigError(f"RunStore(log_every_n_steps={log_every_n_steps}): must be >= 1")
        if mode not in ("min", "max"):
            raise ConfigError(f"RunStore(mode={mode!r}): expected 'min' or 'max'")
        self.root = Path(root)
        self.experiment = experiment
        self.log_every_n_steps = log_every_n_steps
        self.monitor, self.split, self.mode = monitor, split, mode
        self.heartbeat_every = heartbeat_every
        self.config = dict(config or {})
        self.run: RunDir | None = None
        self.writer: MetricsWriter | None = None
        self.best: float | None = None
        self._resume: tuple[Path, int | None] | None = None

    # ------------------------------------------------------------------ resume support

    def resume_dirs(self) -> list[Path]:
        """Checkpoint directories of this experiment's runs, newest run first."""
        parent = self.root / self.experiment
        runs = (
            sorted((p for p in parent.glob("*/run.json")), reverse=True) if parent.is_dir() else []
        )
        dirs = [p.parent / "checkpoints" for p in runs]
        if self.run is not None:
            dirs.insert(0, self.run.checkpoints)
        return dirs

    def state_dict(self) -> dict[str, Any]:
        """Run directory, metrics.jsonl offset and best value, for the checkpoint."""
        return {
            "run_dir": None if self.run is None else str(self.run.path),
            "metrics_offset": None if self.writer is None else self.writer.offset(),
            "best": self.best,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Remember which run to reopen and where metrics.jsonl ends."""
        self.best = saved.get("best")
        if saved.get("run_dir"):
            self._resume = (Path(saved["run_dir"]), saved.get("metrics_offset"))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The checkpoint's own location wins over the saved path (the run may have moved).
        source = checkpoint.get("resumed_from")
        if source is not None and self._resume is not None:
            run_dir = Path(source).parent.parent
            if (run_dir / "run.json").exists():
                self._resume = (run_dir, self._resume[1])

    # ------------------------------------------------------------------ the fit

    def on_fit_start(self, state: State) -> None:
        if state.dry_run:  # fast_dev_run: no run folder (self.run stays None: nothing written)
            return
        if self._resume is not None:
            path, offset = self._resume
            self._resume = None
            self.run = RunDir.open(path)
            restarts = int(self.run.info().get("restarts", 0)) + 1
            self.run.update(restarts=restarts, pid=os.getpid(), resumed=time.time())
            self.run.set_status(RunStatus.RUNNING)
        else:
            self.run = create_run(self.root, self.experiment, config=self.config)
            offset = None
        # deterministic mode and the seed_everything seed, as this fit runs with them
        self.run.update(deterministic=torch.are_deterministic_algorithms_enabled(), seed=_seed())
        self.writer = MetricsWriter(self.run.metrics_jsonl)
        self.writer.open(truncate_to=offset)
        state.stash[RUN_DIR] = self.run

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        every = self.log_every_n_steps
        if every is not None and state.ends_window and state.global_step % every == 0:
            if self.writer is not None and result.loss is not None:
                loss = float(result.loss.detach())  # the one host read, every N steps
                self.writer.write("train", state.epoch, state.global_step, {"loss": loss})
        if self.run is not None:
            self.run.heartbeat(self.heartbeat_every, global_step=state.global_step)

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if self.writer is not None and state.phase == "eval" and self.run is not None:
            self.writer.write(split, state.epoch, state.global_step, metrics)
        value = metrics.get(self.monitor)
        if split == self.split and value is not None and not math.isnan(value):
            better = self.best is None or (
                value < self.best if self.mode == "min" else value > self.best
            )
            if better:
                self.best = value

    def on_fit_end(self, state: State) -> None:
        self._finish(state, RunStatus.COMPLETED)

    def on_exception(self, state: State, error: BaseException) -> None:
        if isinstance(error, KeyboardInterrupt | SystemExit):  # incl. Preempted (143 / 130)
            self._finish(state, RunStatus.INTERRUPTED, f"{type(error).__name__}: {error}")
        else:
            self._finish(state, RunStatus.FAILED, error)

    def _finish(
        self, state: State, status: RunStatus, error: BaseException | str | None = None
    ) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.run is None:
            return
        self.run.update(
            global_step=state.global_step,
            epoch=state.epoch,
            best={"name": f"{self.split}/{self.monitor}", "mode": self.mode, "value": self.best},
            last_metrics=state.eval_metrics,
        )
        self.run.set_status(status, error)


def _seed() -> int | None:
    """The seed of the last ``unitrain.seed_everything`` call (in this process or its parent)."""
    value = os.environ.get(SEED_VARIABLE)
    return int(value) if value is not None and value.isdigit() else None
