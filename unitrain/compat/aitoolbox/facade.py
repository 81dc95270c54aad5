"""The ``train_loop_obj`` view of the engine's one state, under aitoolbox's names.

No counter here is kept twice: during a fit every attribute reads or writes the running
:class:`~unitrain.State` (``epoch`` is ``state.epoch``, ``iteration`` is
``state.batch_idx``, ``total_iteration_idx`` is derived from ``state.micro_step``), and
``early_stop = True`` is ``state.request_stop("epoch_end")``, which ends the fit after the
current epoch, exactly where aitoolbox checked the flag. Outside a fit the attributes are
plain settable values, as aitoolbox's were: ``epoch`` set before ``fit`` is the epoch the
fit starts from; after a fit it is the index of the last epoch run (aitoolbox's value).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import StateError

if TYPE_CHECKING:
    from unitrain.core.state import State
    from unitrain.trainer import Trainer

__all__ = ["EARLY_STOP_REASON", "EngineView", "disabled_scaler"]

EARLY_STOP_REASON = "aitoolbox early_stop"


def disabled_scaler() -> Any:
    """aitoolbox's idle ``torch.cuda.amp.GradScaler(enabled=False)``: ``scale`` returns the
    loss, ``step`` calls ``optimizer.step()``."""
    with warnings.catch_warnings():  # the cuda-specific class is deprecated, not removed
        warnings.simplefilter("ignore")
        return torch.cuda.amp.GradScaler(enabled=False)


class EngineView:
    """State-backed attributes of the compat train loop (mixed into ``TrainLoop``)."""

    trainer: Trainer | None
    before_backward: bool
    in_step: bool
    in_epoch: bool
    loss_accum_tensors: list[Any]
    device_setting: str
    grad_accumulation: int
    train_loader: Any
    idle_scaler: Any
    next_epoch: int | None
    fit_start_epoch: int
    iteration_shift: int
    idle_iteration: int
    idle_early_stop: bool

    @property
    def state(self) -> State:
        """The engine's state (exists from the first ``fit``, or the first prediction)."""
        if self.trainer is None:
            raise StateError(
                "the train loop has no engine state yet: it is created by fit() (and by the "
                "first predict_on_* / evaluate_loss_on_* call); read this attribute from a "
                "callback or after fit"
            )
        return self.trainer.state

    def _running(self) -> bool:
        return self.trainer is not None and self.trainer.state.phase != "idle"

    @property
    def epoch(self) -> int:
        """Index of the current epoch; after a fit the last epoch's index, as in aitoolbox."""
        if self.trainer is None or (self.next_epoch is not None and not self._running()):
            return self.next_epoch or 0
        epoch = self.trainer.state.epoch
        if self.in_epoch or epoch == self.fit_start_epoch:
            return epoch
        return epoch - 1

    @epoch.setter
    def epoch(self, value: int) -> None:
        if self._running():
            self.state.epoch = int(value)
        else:
            self.next_epoch = int(value)

    @property
    def iteration(self) -> int:
        """0-based index of the batch within the epoch (``state.batch_idx``).

        Between steps (at epoch end) the engine has already counted the finished batch, so
        this is the last batch's index there, as aitoolbox's loop variable was.
        """
        if not self._running():
            return self.idle_iteration
        assert self.trainer is not None
        index = self.trainer.state.batch_idx
        return index - 1 if index > 0 and not self.in_step else index

    @iteration.setter
    def iteration(self, value: int) -> None:
        if self._running():
            raise StateError("train_loop.iteration is the engine's batch index during a fit")
        self.idle_iteration = int(value)

    @property
    def total_iteration_idx(self) -> int:
        """Index of the current batch over the whole fit; -1 before the first batch.

        aitoolbox increments it before ``on_batch_begin``; the engine counts a micro-step
        after backward, so before backward the current index is ``micro_step`` itself.
        """
        if self.trainer is None:
            return -1 + self.iteration_shift
        counted = self.trainer.state.micro_step - (0 if self.before_backward else 1)
        return counted + self.iteration_shift

    @total_iteration_idx.setter
    def total_iteration_idx(self, value: int) -> None:
        # Only shifts the view (aitoolbox code bumps it to invalidate cached predictions);
        # the engine's micro_step, which resume and schedules rely on, is left alone.
        self.iteration_shift += int(value) - self.total_iteration_idx

    @property
    def device(self) -> torch.device:
        """The device the engine runs on."""
        if self.trainer is not None:
            return self.trainer.state.device
        return torch.device(self.device_setting)

    @device.setter
    def device(self, value: torch.device | str) -> None:
        self.device_setting = str(value)
        if self.trainer is not None:
            self.trainer.state.device = torch.device(value)

    @property
    def amp_scaler(self) -> Any:
        """The grad scaler of mixed precision, or aitoolbox's disabled one."""
        scaler = None if self.trainer is None else self.trainer.state.grad_scaler
        return self.idle_scaler if scaler is None else scaler

    @property
    def early_stop(self) -> bool:
        """True once a stop was requested; setting True stops after the current epoch."""
        requested = self.trainer is not None and self.trainer.state.stop_requested is not None
        return requested or (not self._running() and self.idle_early_stop)

    @early_stop.setter
    def early_stop(self, value: bool) -> None:
        if not self._running():  # a callback driven by hand, outside a fit (aitoolbox allowed it)
            self.idle_early_stop = bool(value)
            return
        state = self.state
        if value:
            state.request_stop("epoch_end", reason=EARLY_STOP_REASON)
        elif state.stop_reason == EARLY_STOP_REASON:
            # aitoolbox let a callback take its own early stop back; only that one.
            state.stop_requested, state.stop_reason = None, ""

    @property
    def ddp_training_mode(self) -> bool:
        """True in a multi-process run."""
        return self.trainer is not None and self.trainer.state.world_size > 1

    @property
    def ddp_rank(self) -> int:
        """Global rank of this process."""
        return 0 if self.trainer is None else self.trainer.state.rank

    def is_main_process(self) -> bool:
        """True on global rank 0 (and in a single-process run)."""
        return self.trainer is None or self.trainer.state.is_main_process

    def should_execute_optimizer_update(self) -> bool:
        """True when the current batch ends an accumulation window (the optimizer steps):
        every ``grad_accumulation``-th batch and the epoch's last one."""
        if self._running():
            assert self.trainer is not None
            return self.trainer.state.ends_window
        iteration = self.iteration
        return (iteration + 1) % self.grad_accumulation == 0 or iteration == len(
            self.train_loader
        ) - 1

    @property
    def loss_batch_accum(self) -> list[Any]:
        """The training batch losses of the current epoch (detached, on the device)."""
        return list(self.loss_accum_tensors)
