"""TensorBoard logger: the values :class:`~unitrain.plugins.metrics_log.MetricsLog` writes, as
TensorBoard event files (rank 0 only; needs the ``tensorboard`` extra)."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitrain.errors import ConfigError
from unitrain.log import get_logger
from unitrain.plugins.run_store import RUN_DIR
from unitrain.plugins.scalar_logger import ScalarLogger

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["TensorBoardLog"]

_log = get_logger("tensorboard_log")
_INSTALL = "pip install 'unitrain[tensorboard]'  (or: pip install tensorboard)"


def _summary_writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, imported only when a logger is made."""
    try:
        module = importlib.import_module("torch.utils.tensorboard")
    except ImportError as error:
        raise ConfigError(
            f"TensorBoardLog needs the tensorboard package, which is not importable ({error}); "
            f"install it with: {_INSTALL}"
        ) from None
    return module.SummaryWriter


class TensorBoardLog(ScalarLogger):
    """Write scalars to TensorBoard event files in ``log_dir``.

    ``log_dir`` defaults to ``<run dir>/tensorboard`` of the :class:`~unitrain.plugins.RunStore`
    registered beside it; without one, to a new ``runs/tensorboard/<YYYYmmdd-HHMMSS>`` folder
    (so two runs never share one; ``tensorboard --logdir runs/tensorboard`` shows them side
    by side). Tags are ``<split>/<name>`` at the global (optimizer) step:
    ``train/loss`` every ``every_n_steps`` optimizer steps (one host read then, none in
    between), ``train_epoch/<name>`` the epoch's mean training loss and metrics (summed on
    the device during the epoch) at each epoch end, and ``<split>/<name>`` every value of
    every evaluation.

    A fit that starts at step ``T > 0`` (a resume) opens its writer with ``purge_step=T + 1``:
    TensorBoard hides the events the interrupted run wrote after its checkpoint, so the
    resumed run's steps are not shown twice.
    """

    name = "tensorboard_log"
    ranks = "main"

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        every_n_steps: int | None = 50,
        flush_secs: int = 30,
    ) -> None:
        super().__init__(every_n_steps)
        self._writer_class = _summary_writer_class()
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._fallback: Path | None = None  # chosen at the first fit without a run store
        self.flush_secs = flush_secs
        self.writer: Any = None  # a SummaryWriter while open

    def on_fit_start(self, state: State) -> None:
        self._fitting = True
        if state.dry_run:  # fast_dev_run writes nothing
            return
        self._close_writer()
        # Resumed at step T: everything up to T is in the checkpoint's past, drop the rest.
        self._open(state, purge_step=state.global_step + 1 if state.global_step > 0 else None)

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if state.dry_run:  # fast_dev_run writes nothing
            return
        if self.writer is None:
            self._open(state, purge_step=None)
        self.write(state, split, metrics)
        if not self._fitting:  # a standalone evaluate() has no fit end to close the writer
            self._close_writer()

    def on_fit_end(self) -> None:
        self._close()

    def on_exception(self) -> None:
        self._close()

    def resolved_log_dir(self, state: State) -> Path:
        """``log_dir``, else ``<run dir>/tensorboard``, else a new folder of its own."""
        if self.log_dir is not None:
            return self.log_dir
        run = state.stash.get(RUN_DIR)
        if run is not None:
            return run.path / "tensorboard"
        if self._fallback is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            candidate, n = Path("runs", "tensorboard", stamp), 1
            while candidate.exists():  # two fits in one second still get a folder each
                n += 1
                candidate = Path("runs", "tensorboard", f"{stamp}-{n}")
            self._fallback = candidate
            _log.info("TensorBoard events: %s", candidate)
        return self._fallback

    def _open(self, state: State, purge_step: int | None) -> None:
        directory = self.resolved_log_dir(state)
        directory.mkdir(parents=True, exist_ok=True)
        self.writer = self._writer_class(
            log_dir=str(directory), purge_step=purge_step, flush_secs=self.flush_secs
        )

    def _close(self) -> None:
        self._fitting = False
        self._close_writer()

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()  # flushes every pending event to disk
            self.writer = None

    def write(self, state: State, split: str, values: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            self.writer.add_scalar(f"{split}/{name}", float(value), global_step=state.global_step)
