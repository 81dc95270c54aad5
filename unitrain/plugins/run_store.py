"""The run store plugin: every fit gets a run directory with run.json and metrics.jsonl.

See :mod:`unitrain.runs.store` for the layout. On ``fit`` it creates
``<root>/<experiment>/<timestamp>-<id>`` (or reopens the run a resumed checkpoint belongs to,
counting a restart), keeps ``run.json`` current (status RUNNING → COMPLETED / FAILED /
INTERRUPTED, a heartbeat, the best value of ``monitor``; when a fit starts, its plugins,
monitored metrics, hyperparameters and model: :mod:`unitrain.runs.describe`) and appends to
``metrics.jsonl`` the training loss every ``log_every_n_steps`` optimizer steps and every
evaluation's values. Its own state (metrics offset, best value) goes into each checkpoint, so
a resume truncates metrics.jsonl to what the checkpoint had seen.

**Ownership.** The run lives where ``root`` and ``experiment`` say, never where a file says:
a resumed checkpoint reopens its run only when it sits in ``<root>/<experiment>/<id>/
checkpoints/``; one from anywhere else (a copy, another root) starts a new run here, which
records where it came from (``resumed_from`` in run.json), and the original is not touched.
The process that trains holds the run folder's lock (:class:`~unitrain.runs.lock.RunLock`)
from its fit's start to its end, and beats its heartbeat with run.json's: a second process on
the same run is refused, naming the holder. ``experiment`` must be a plain folder name.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.core.keys import PLUGINS
from unitrain.core.stash import StashKey
from unitrain.errors import ConfigError, RunError, UnitrainWarning
from unitrain.runs.describe import describe_fit
from unitrain.runs.lock import RunLock
from unitrain.runs.metrics import MetricsWriter
from unitrain.runs.names import check_name, name_problem
from unitrain.runs.store import (
    CHECKPOINTS,
    RUN_JSON,
    RunDir,
    RunStatus,
    create_run,
    environment,
    write_json_atomic,
)
from unitrain.seeding import SEED_VARIABLE

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["RUN_DIR", "RunStore"]

#: The current run directory, for other plugins (checkpoints, artifacts, snapshots).
RUN_DIR: StashKey[RunDir] = StashKey("run_store.run_dir")

_log = logging.getLogger("unitrain.runs")


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
        self.experiment = check_name(experiment, "RunStore(experiment)")
        self.log_every_n_steps = log_every_n_steps
        self.monitor, self.split, self.mode = monitor, split, mode
        self.heartbeat_every = heartbeat_every
        self.config = dict(config or {})
        self.run: RunDir | None = None
        self.writer: MetricsWriter | None = None
        self.best: float | None = None
        self.lock: RunLock | None = None
        self._offset: int | None = None
        # where the loaded checkpoint was found: (its run folder here or None, its path)
        self._resume: tuple[Path | None, Path] | None = None

    # ------------------------------------------------------------------ resume support

    @property
    def experiment_dir(self) -> Path:
        """``<root>/<experiment>``: every run of this plugin lives directly under it."""
        return self.root / self.experiment

    def resume_dirs(self) -> list[Path]:
        """Checkpoint directories of this experiment's runs, newest run first.

        A run folder counts by its name and its ``checkpoints/`` folder, so one whose
        run.json was lost still offers its checkpoints (and is then refused or repaired by
        name, never skipped for a fresh start).
        """
        parent = self.experiment_dir
        runs: list[Path] = []
        if parent.is_dir():
            with os.scandir(parent) as entries:
                runs = [
                    Path(e.path)
                    for e in entries
                    if name_problem(e.name) is None
                    and e.is_dir(follow_symlinks=False)
                    and (Path(e.path) / CHECKPOINTS).is_dir()
                ]
        dirs = [p / CHECKPOINTS for p in sorted(runs, reverse=True)]
        if self.run is not None:
            dirs.insert(0, self.run.checkpoints)
        return dirs

    def state_dict(self) -> dict[str, Any]:
        """Run directory (for the record only), metrics.jsonl offset and best value."""
        return {
            "run_dir": None if self.run is None else str(self.run.path),
            "metrics_offset": None if self.writer is None else self.writer.offset(),
            "best": self.best,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Remember where metrics.jsonl ended (the saved ``run_dir`` is not trusted)."""
        self.best = saved.get("best")
        offset = saved.get("metrics_offset")
        self._offset = offset if isinstance(offset, int) and offset >= 0 else None

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        source = checkpoint.get("resumed_from")
        if source is None:
            return
        path = Path(source)
        run_dir = self.owning_run(path)
        self._resume = (run_dir, path)
        if run_dir is not None and (run_dir / RUN_JSON).exists():
            RunDir(run_dir).info()  # garbage run.json: refused now, before the fit starts

    def owning_run(self, checkpoint: Path) -> Path | None:
        """The run folder under ``<root>/<experiment>`` that holds ``checkpoint``, or None."""
        folder = checkpoint.parent
        run_dir = folder.parent
        if folder.name != CHECKPOINTS or name_problem(run_dir.name) is not None:
            return None
        if os.path.islink(run_dir) or os.path.islink(folder) or not run_dir.is_dir():
            return None
        try:
            inside = run_dir.parent.resolve() == self.experiment_dir.resolve()
        except OSError:
            return None
        return run_dir if inside else None

    # ------------------------------------------------------------------ the fit

    def on_fit_start(self, state: State) -> None:
        if state.dry_run:  # fast_dev_run: no run folder (self.run stays None: nothing written)
            return
        resume, self._resume = self._resume, None
        offset, self._offset = self._offset, None
        if resume is not None and resume[0] is not None:
            self.run = self._reopen(resume[0])
        else:
            fields = {} if resume is None else {"resumed_from": str(resume[1])}
            self.run = create_run(self.root, self.experiment, config=self.config, **fields)
            self._take_lock(self.run)
            offset = None
            if resume is not None:
                _log.warning(
                    "the checkpoint %s is not in a run of %s: a new run %s continues from it, "
                    "the original is left untouched",
                    resume[1],
                    self.experiment_dir,
                    self.run.path,
                )
        # deterministic mode, the seed_everything seed, the plugins, monitored metrics and
        # hyperparameters, as this fit runs with them (a resumed fit may differ: rewritten)
        self.run.update(
            deterministic=torch.are_deterministic_algorithms_enabled(),
            seed=_seed(),
            **describe_fit(state, state.stash.get(PLUGINS)),
        )
        self.writer = MetricsWriter(self.run.metrics_jsonl)
        self.writer.open(truncate_to=offset)
        state.stash[RUN_DIR] = self.run

    def _take_lock(self, run: RunDir) -> None:
        lock = RunLock(run.path, "run folder")
        lock.acquire()  # a live holder: RunLockedError, before anything is written
        self.lock = lock

    def _reopen(self, path: Path) -> RunDir:
        run = RunDir(path)
        self._take_lock(run)
        try:
            if not run.run_json.exists():
                warnings.warn(
                    f"{run.run_json} is missing, but the run's checkpoints are valid: resuming "
                    "it and writing a new run.json (its earlier config and history are lost)",
                    UnitrainWarning,
                    stacklevel=2,
                )
                info: dict[str, Any] = {"id": path.name, "experiment": self.experiment}
                info.update(created=None, restarts=0, config=self.config, recreated=time.time())
                write_json_atomic(run.run_json, info)
            info = run.info()
            restarts = info.get("restarts")
            restarts = restarts + 1 if isinstance(restarts, int) else 1
            fields: dict[str, Any] = {"restarts": restarts, "resumed": time.time()}
            if info.get("status") == RunStatus.RUNNING:  # its process died: we hold the lock
                fields["crashed_attempts"] = _count(info.get("crashed_attempts")) + 1
            env = environment()
            run.update(**fields, pid=env["pid"], host=env["host"], argv=env["argv"])
            run.set_status(RunStatus.RUNNING)
        except BaseException:
            self._release()
            raise
        return run

    def on_train_step_end(self, state: State, result: StepResult) -> None:
        every = self.log_every_n_steps
        if every is not None and state.ends_window and state.global_step % every == 0:
            if self.writer is not None and result.loss is not None:
                loss = float(result.loss.detach())  # the one host read, every N steps
                self.writer.write("train", state.epoch, state.global_step, {"loss": loss})
        if self.run is not None:
            try:
                beat = self.run.heartbeat(self.heartbeat_every, global_step=state.global_step)
            except (OSError, RunError) as error:  # a full disk: training goes on, the lock
                beat = True  # file's time (no space needed) still says the run is alive
                _log.warning("could not stamp the heartbeat in %s: %s", self.run.run_json, error)
            if beat and self.lock is not None:
                self.lock.beat()

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
        if self.run is None or self.lock is None:
            return  # never opened, or refused: the run belongs to someone else
        try:
            self.run.update(
                global_step=state.global_step,
                epoch=state.epoch,
                best={"name": f"{self.split}/{self.monitor}", "mode": self.mode}
                | {"value": self.best},
                last_metrics=state.eval_metrics,
            )
            self.run.set_status(status, error)
        except (OSError, RunError) as problem:
            # a full disk or a damaged run.json: the status stays RUNNING on disk, and the
            # released lock is what tells `unitrain runs` that this run is not alive
            message = f"unitrain: could not record status {status.value} in {self.run.run_json}"
            _log.error("%s: %s", message, problem)
            if error is None:
                raise  # the fit itself succeeded: this is the error to report
            if isinstance(error, BaseException):
                error.add_note(f"{message}: {problem}")
        finally:
            self._release()

    def _release(self) -> None:
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _seed() -> int | None:
    """The seed of the last ``unitrain.seed_everything`` call (in this process or its parent)."""
    value = os.environ.get(SEED_VARIABLE)
    return int(value) if value is not None and value.isdigit() else None
