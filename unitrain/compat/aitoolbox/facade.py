"""The ``train_loop_obj`` view of the engine's one state, under aitoolbox's names.

No counter here is kept twice: every attribute reads or writes the running
:class:`~unitrain.State` (``epoch`` is ``state.epoch``, ``iteration`` is
``state.batch_idx``, ``total_iteration_idx`` is derived from ``state.micro_step``), and
``early_stop = True`` is ``state.request_stop("epoch_end")``, which ends the fit after the
current epoch, exactly where aitoolbox checked the flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import StateError

if TYPE_CHECKING:
    from unitrain.core.state import State
    from unitrain.trainer import Trainer

__all__ = ["EARLY_STOP_REASON", "EngineView"]

EARLY_STOP_REASON = "aitoolbox early_stop"


class EngineView:
    """State-backed attributes of the compat train loop (mixed into ``TrainLoop``)."""

    trainer: Trainer | None
    before_backward: bool
    in_step: bool
    loss_accum_tensors: list[torch.Tensor]

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

    @property
    def epoch(self) -> int:
        """0-based index of the current epoch (``state.epoch``)."""
        return 0 if self.trainer is None else self.trainer.state.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.state.epoch = int(value)

    @property
    def iteration(self) -> int:
        """0-based index of the batch within the epoch (``state.batch_idx``).

        Between steps (at epoch end) the engine has already counted the finished batch, so
        this is the last batch's index there, as aitoolbox's loop variable was.
        """
        if self.trainer is None:
            return 0
        index = self.trainer.state.batch_idx
        return index - 1 if index > 0 and not self.in_step else index

    @property
    def total_iteration_idx(self) -> int:
        """Index of the current batch over the whole fit; -1 before the first batch.

        aitoolbox increments it before ``on_batch_begin``; the engine counts a micro-step
        after backward, so before backward the current index is ``micro_step`` itself.
        """
        if self.trainer is None:
            return -1
        return self.trainer.state.micro_step - (0 if self.before_backward else 1)

    @property
    def device(self) -> torch.device:
        """The device the engine runs on."""
        return self.state.device

    @property
    def amp_scaler(self) -> Any:
        """The grad scaler of mixed precision (``state.grad_scaler``), or ``None``."""
        return None if self.trainer is None else self.trainer.state.grad_scaler

    @property
    def early_stop(self) -> bool:
        """True once a stop was requested; setting True stops after the current epoch."""
        return self.trainer is not None and self.trainer.state.stop_requested is not None

    @early_stop.setter
    def early_stop(self, value: bool) -> None:
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
        """True when the current batch ends an accumulation window (the optimizer steps)."""
        return self.trainer is None or self.trainer.state.ends_window

    @property
    def loss_batch_accum(self) -> list[float]:
        """The training batch losses of the current epoch (reading them syncs the device)."""
        return [float(value) for value in self.loss_accum_tensors]
