"""The checkpoint plugin: when to save, where, what to keep, and SIGTERM / SIGINT.

Triggers (any combination): every N optimizer steps, every N epochs, a new best value of a
monitored metric, the end of the fit, an exception, and SIGTERM / SIGINT. A trigger only
marks a save as due; the save itself happens at the next **step boundary** (before the next
batch starts, at the next epoch start, or at the fit's end), where the state is complete:
the step, its evaluation and the scheduler have run. That is what makes a resume exact.

A signal finishes the current step, commits a checkpoint at the boundary and raises
:class:`~unitrain.runs.signals.Preempted` (exit status 143 for SIGTERM, 130 for SIGINT); the
handlers are installed at fit start, chain the ones there before, and are restored after.
An exception saves a checkpoint only when it arrives before the failing step's backward pass
(at a boundary, or in the forward: an out-of-memory error), since a half-done step cannot be
resumed; weights, optimizer and data position are then whole, though random numbers the
failed forward drew are not rewound. Otherwise the last committed checkpoint is named in the
error's notes.

The files are written by :func:`unitrain.runs.checkpoint.write_checkpoint` (temporary folder,
fsync, manifest with sha256, atomic rename, ``latest`` via ``os.replace``); old ones are
deleted after the commit, keeping the last ``keep_last`` (by training position) and the best
``keep_best``; only folders unitrain wrote are ever deleted. A ``directory`` of its own is
locked by the fitting process (:class:`~unitrain.runs.lock.RunLock`): a second process is
refused. On resume, a change of a setting that changes the math (accumulation,
``limit_train_batches``) is refused unless listed in ``allow_setting_changes`` (then a
warning; see :mod:`unitrain.runs.settings`).

**Asynchronous saves** (``async_save=True``): at the boundary the training thread takes
the state (as above) and copies every tensor to fresh CPU memory (pinned when it is on CUDA;
:func:`~unitrain.runs.async_writer.snapshot_to_cpu`), then returns to training; a background
thread serialises and writes that copy with the same protocol (temporary folder, fsync,
manifest, rename, ``latest``) and only then prunes, in that order. A save due while one is in
flight **waits** for it (a skipped save would lose a trigger such as a SIGTERM or a best
metric); two writes never interleave. The fit's end, an exception and a SIGTERM wait for the
write in flight; its error is raised on the training thread at the next save or at the fit's
end as a :class:`~unitrain.errors.CheckpointError` naming the checkpoint (attached as a note
when another exception is already on its way). ``save()`` then returns the path the
checkpoint will have; ``last_saved`` names the last one committed; :meth:`Checkpoint.wait`
blocks until the write in flight is committed. A kill during a background write leaves only
a hidden temporary folder, removed at the next start.

**Several processes** (DDP / FSDP): the plugin runs on every rank (``ranks = "all"``). Its
triggers fire on every rank at the same step (steps, epochs, the fit's end, and a best
metric: evaluation metrics are the same on every rank), every rank then contributes its
random state and data order (:func:`unitrain.distributed.full_state_dict`, a collective),
and rank 0 alone writes. A resume with the same number of processes gives each rank its own
streams back, so dropout continues exactly. SIGTERM is agreed across ranks by the
distributed plugin (every rank stops at the same step); this plugin then commits the
checkpoint and raises :class:`~unitrain.runs.signals.Preempted` (143) on every rank; its own
SIGINT / SIGTERM handlers are not installed there. A checkpoint on an exception is written by
rank 0 without the other ranks (they may be gone): it holds rank 0's random state only.

**A fit ended by ``max_steps`` (or a stop request) in the middle of an epoch**: the epoch
still ends for the plugins (``on_epoch_end``, its evaluation), but the end-of-fit checkpoint
records the epoch as cut after the batches it ran (``data_order["cut"]``). A resume with a
larger ``max_steps`` continues that epoch from the next batch, with the same data order and
random streams, as an uninterrupted run would (Lightning does the same). What ran at the cut
epoch's end runs again at its real end: an evaluation, an epoch-interval scheduler (stepped
one extra time, so such a run is not bit-exact with an uninterrupted one), epoch metrics.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import signal
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from unitrain.errors import CheckpointError, ConfigError
from unitrain.hooks.markers import hookimpl
from unitrain.plugins.run_store import RUN_DIR
from unitrain.runs.async_writer import BackgroundWriter, snapshot_to_cpu
from unitrain.runs.checkpoint import remove_checkpoint, remove_stale, write_checkpoint
from unitrain.runs.lock import RunLock
from unitrain.runs.retention import select_removals
from unitrain.runs.rng import preserved_rng
from unitrain.runs.settings import MATH_SETTINGS, check_resume_settings
from unitrain.runs.signals import Preempted, SignalCatcher
from unitrain.runs.trainer_state import ALL_RANKS_STATE_DICT, STATE_DICT

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["Checkpoint"]

#: How the distributed plugin words the stop it agreed on after a SIGTERM on any rank.
_AGREED_SIGTERM = "SIGTERM received"

_log = logging.getLogger("unitrain.runs")


class Checkpoint:
    """Saves checkpoints of the whole trainer at step boundaries.

    ``directory``: where; default ``checkpoints/`` of the run directory the
    :class:`~unitrain.plugins.run_store.RunStore` plugin made. ``monitor`` / ``split`` /
    ``mode``: the metric for ``save_best`` and ``keep_best``. ``async_save``: snapshot the
    state to CPU memory on the training thread and write it in a background thread (same
    protocol and guarantees; see "Asynchronous saves" in the module doc).
    """

    name = "checkpoint"
    order = 1000  # last: the other plugins' state of this step is final when it is saved
    ranks = "all"  # every rank gives its random state to a save; rank 0 alone writes

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        every_n_steps: int | None = None,
        every_n_epochs: int | None = 1,
        save_best: bool = False,
        monitor: str = "loss",
        split: str = "val",
        mode: Literal["min", "max"] = "min",
        save_last: bool = True,
        on_exception: bool = True,
        on_signal: bool = True,
        keep_last: int | None = 3,
        keep_best: int = 1,
        allow_setting_changes: Collection[str] = (),
        async_save: bool = False,
    ) -> None:
        problems = [
            f"{name}={value} must be >= 1 or None"
            for name, value in (
                ("every_n_steps", every_n_steps),
                ("every_n_epochs", every_n_epochs),
            )
            if value is not None and value < 1
        ]
        if keep_last is not None and keep_last < 1:
            problems.append(f"keep_last={keep_last} must be >= 1 or None (keep all)")
        if keep_best < 0:
            problems.append(f"keep_best={keep_best} must be >= 0")
        if mode not in ("min", "max"):
            problems.append(f"mode={mode!r} must be 'min' or 'max'")
        unknown = sorted(set(allow_setting_changes) - set(MATH_SETTINGS))
        if isinstance(allow_setting_changes, str) or unknown:
            problems.append(
                f"allow_setting_changes={allow_setting_changes!r} must be a tuple of "
                f"{', '.join(map(repr, MATH_SETTINGS))}"
            )
        if problems:
            raise ConfigError("Checkpoint(...): " + "; ".join(problems))
        self.directory = None if directory is None else Path(directory)
        self.every_n_steps, self.every_n_epochs = every_n_steps, every_n_epochs
        self.save_best, self.monitor, self.split, self.mode = save_best, monitor, split, mode
        self.save_last, self.save_on_exception = save_last, on_exception
        self.keep_last, self.keep_best = keep_last, keep_best
        self.allow_setting_changes = tuple(allow_setting_changes)
        self.lock: RunLock | None = None  # of ``directory``, while a fit writes there
        self.signals = SignalCatcher() if on_signal else None
        self.best: float | None = None
        self.last_saved: Path | None = None
        self.resumed_from: Path | None = None
        self._due: str | None = None
        self._clean = True
        self._saved_at: tuple[int, int, int] | None = None
        self._started = False
        self._writer = True  # rank 0 (or the only process)
        self.async_save = bool(async_save)
        self._background = BackgroundWriter()
        self._issued: Path | None = None  # the last save's path, committed or in flight
        self._staging: Any = None  # the last CPU snapshot: the next one copies into it
        # several processes: the all-ranks state_dict (a collective every rank calls)
        self._gather: Callable[[], dict[str, Any]] | None = None

    # ------------------------------------------------------------------ state and resume

    def resume_dirs(self) -> list[Path]:
        """Where ``fit(resume="latest")`` looks when this plugin has its own directory."""
        return [] if self.directory is None else [self.directory]

    def state_dict(self) -> dict[str, Any]:
        """The best value so far (the rest is re-derived from the directory)."""
        return {"best": self.best}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore the best value."""
        self.best = saved.get("best")

    def on_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        source = checkpoint.get("resumed_from")
        self.resumed_from = None if source is None else Path(source)
        current: dict[str, Any] = {"accumulation": state.accumulation}
        trainer = getattr(state.stash.get(STATE_DICT), "__self__", None)
        config = getattr(trainer, "config", None)
        if config is not None:
            current["limit_train_batches"] = getattr(config, "limit_train_batches", None)
        check_resume_settings(
            checkpoint.get("config"),
            current,
            allow=self.allow_setting_changes,
            source=str(source or "the checkpoint"),
            mid_window=checkpoint.get("grads") is not None,
        )

    # ------------------------------------------------------------------ triggers

    def on_fit_start(self, state: State) -> None:
        self.wait()  # a manual save in flight: remove_stale below would delete its folder
        self._writer = state.rank == 0 and not state.dry_run  # fast_dev_run writes nothing
        self._gather = state.stash.get(ALL_RANKS_STATE_DICT) if state.world_size > 1 else None
        if self._writer:
            if self.directory is None and RUN_DIR not in state.stash:
                raise ConfigError(
                    "Checkpoint(): no directory to write to; pass Checkpoint(directory=...) "
                    "or register the RunStore plugin, whose run directory holds checkpoints/"
                )
            if self.directory is not None:  # a folder of its own: this fit owns it
                self.lock = RunLock(self.directory, "checkpoint folder")
                self.directory.mkdir(parents=True, exist_ok=True)
                self.lock.acquire()
            remove_stale(self._target(state))
        self._due, self._clean, self._saved_at = None, True, None
        if self.signals is not None and state.world_size == 1:
            # with several ranks a signal on one of them must not make it save alone (the
            # others would wait in the collective): the distributed plugin agrees on SIGTERM
            self.signals.install()
        self._started = True

    @hookimpl(tryfirst=True)
    def on_epoch_start(self, state: State) -> None:
        self._boundary(state)

    @hookimpl(tryfirst=True)
    def on_train_step_start(self, state: State) -> None:
        self._boundary(state)

    @hookimpl(tryfirst=True)
    def run_backward(self) -> None:
        # From the backward pass until the next boundary the state is half a step: an
        # exception there is not saved. (Returns None: the backward itself is left to others.)
        self._clean = False

    def on_train_step_end(self, state: State) -> None:
        every = self.every_n_steps
        if every is not None and state.ends_window and state.global_step % every == 0:
            self._due = self._due or "step"

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        value = metrics.get(self.monitor)
        if split != self.split or value is None or math.isnan(value):
            return
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best = value
            if self.save_best:
                self._due = "best"

    def on_epoch_end(self, state: State) -> None:
        every = self.every_n_epochs
        if every is not None and (state.epoch + 1) % every == 0:
            self._due = self._due or "epoch"

    def on_fit_end(self, state: State) -> None:
        agreed_sigterm = state.world_size > 1 and state.stop_reason.startswith(_AGREED_SIGTERM)
        try:
            if self.save_last or self._due or self._signalled() or agreed_sigterm:
                # a SIGTERM names the checkpoint even when a step/epoch one fell due with it
                self.save(state, "signal" if agreed_sigterm else (self._due or "end"))
        finally:
            try:
                self.wait()  # the fit ends with every save committed (or its error raised)
            finally:
                self._restore_signals()
                self._release()
                self._started = False
        self._raise_if_signalled()
        if agreed_sigterm:
            raise Preempted(signal.SIGTERM)  # on every rank: each exits 143

    def on_exception(self, state: State, error: BaseException) -> None:
        self._restore_signals()
        started, self._started = self._started, False
        self._wait_noting(error)  # last_saved below is then what is committed
        try:
            if isinstance(error, Preempted) or not self.save_on_exception or not started:
                return
            clean = self._clean and state.phase in ("fit", "eval") and state.optimizers
            if clean and self._writer:
                self.save(state, "exception")
            elif self.last_saved is not None:
                error.add_note(f"unitrain: the last committed checkpoint is {self.last_saved}")
        finally:
            self._wait_noting(error)  # the exception's own save, written in the background
            self._release()

    def wait(self) -> None:
        """Block until a background save in flight is committed; raise its error here.

        A no-op without ``async_save``. The fit's end, an exception and a SIGTERM call it.
        """
        try:
            self._background.wait()
        except CheckpointError:
            # that state is not committed: saving the same position again must really save
            self._issued, self._saved_at = self.last_saved, None
            raise

    def _wait_noting(self, error: BaseException) -> None:
        # An exception is already on its way: a failed background write is attached to it
        # (and logged) rather than replacing it.
        try:
            self.wait()
        except CheckpointError as failure:
            _log.error("%s", failure)
            error.add_note(f"unitrain: {failure}")

    def _release(self) -> None:
        self._staging = None  # (called once the writes are waited for) not kept beyond a fit
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()

    # ------------------------------------------------------------------ saving

    def save(self, state: State, trigger: str = "manual") -> Path | None:
        """Commit a checkpoint of the whole trainer now; returns its directory.

        With several processes, call it on every rank at the same point (each gives its
        random state); rank 0 writes, the other ranks return None.
        """
        position = (state.epoch, state.global_step, state.micro_step)
        if self._saved_at == position and (self._issued is not None or not self._writer):
            return self._issued  # this exact state is already committed (or being written)
        if self.async_save:
            self.wait()  # a save in flight finishes first (never interleaved); its error here
        # after an exception the other ranks may be gone: no collective then
        gather = self._gather if trigger != "exception" else None
        with preserved_rng():  # a plugin's state_dict may draw numbers: saving must not
            checkpoint = (gather or state.stash[STATE_DICT])()
        if not self._writer:
            self._saved_at, self._due = position, None
            return None
        order = checkpoint["data_order"]
        meta = {
            "trigger": trigger,
            "position": {
                "epoch": order["epoch"],
                "batches_done": order["batches_done"],
                "global_step": state.global_step,
                "micro_step": state.micro_step,
            },
            "metrics": state.eval_metrics,
            "monitor": {"name": f"{self.split}/{self.monitor}", "value": self._monitored(state)},
        }
        name = f"step-{state.global_step:09d}"
        if checkpoint.get("grads") is not None:  # inside an accumulation window
            name += f"-micro-{state.micro_step:09d}"
        directory = self._target(state)
        if self.async_save:
            # the training thread copies (cheap); the background thread serialises and writes
            # (into the previous snapshot's buffers: its write is done, waited for above)
            self._staging = snapshot_to_cpu(checkpoint, reuse=self._staging)
            files, meta = {"state.pt": self._staging}, copy.deepcopy(meta)
            target = directory / name
            self._background.submit(
                lambda: self._commit(directory, name, files, meta, trigger), str(target)
            )
            self._issued, self._saved_at, self._due = target, position, None
            return target
        path = self._commit(directory, name, {"state.pt": checkpoint}, meta, trigger)
        self._issued, self._saved_at, self._due = path, position, None
        return path

    def _commit(
        self,
        directory: Path,
        name: str,
        files: dict[str, Any],
        meta: dict[str, Any],
        trigger: str,
    ) -> Path:
        # write, then (only after the commit and the ``latest`` pointer) prune: in this order
        path = write_checkpoint(directory, name, files, meta=meta)
        self.last_saved = path  # (from the writer thread: the training thread waits on it)
        # The name only at INFO (one line in 80 columns); the whole path for -v.
        _log.info("checkpoint %s saved (%s)", path.name, trigger)
        _log.debug("checkpoint committed: %s", path)
        self._prune(directory, path)
        return path

    def _boundary(self, state: State) -> None:
        self._clean = True
        if self._due is not None or self._signalled():
            self.save(state, self._due or "signal")
        self._raise_if_signalled()

    def _prune(self, directory: Path, newest: Path) -> None:
        protect = [self.resumed_from] if self.resumed_from is not None else []
        for path in select_removals(
            directory,
            keep_last=self.keep_last,
            keep_best=self.keep_best,
            mode=self.mode,
            protect=protect,
            newest=newest,
        ):
            try:
                remove_checkpoint(path)
            except (OSError, CheckpointError) as error:  # pruning never fails a fit
                _log.warning("could not remove old checkpoint %s: %s", path, error)

    def _monitored(self, state: State) -> float | None:
        value = state.eval_metrics.get(self.split, {}).get(self.monitor)
        return None if value is None or math.isnan(value) else float(value)

    def _target(self, state: State) -> Path:
        if self.directory is not None:
            return self.directory
        return state.stash[RUN_DIR].checkpoints

    def _signalled(self) -> bool:
        return self.signals is not None and self.signals.received is not None

    def _raise_if_signalled(self) -> None:
        if self.signals is not None and self.signals.received is not None:
            signum, self.signals.received = self.signals.received, None
            self._restore_signals()
            raise Preempted(signum)

    def _restore_signals(self) -> None:
        if self.signals is not None:
            self.signals.restore()
