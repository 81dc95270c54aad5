"""The compat train loop's own plugins: the end-of-epoch report and the message purge.

``EpochReport`` (``tryfirst``) writes the epoch's losses into ``train_history`` before any
callback's ``on_epoch_end`` runs: ``accumulated_loss`` (mean training batch loss, summed on
the device and read once per epoch; ``<key>_<name>`` per loss of a MultiLoss), and when
the engine evaluated this epoch, ``loss`` (train split) and ``val_loss`` (val split). At
the fit's end it adds ``train_end_test_loss``. ``MessagePurge`` (``trylast``) drops the
epoch's messages after every callback ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.multi_loss import MultiLoss
from unitrain.compat.aitoolbox.predictions import loss_value
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["EpochReport", "MessagePurge"]

_HISTORY_KEY = {"train": "loss", "val": "val_loss", "test": "train_end_test_loss"}


class EpochReport:
    """Feeds ``train_history`` and the legacy phase flag of ``total_iteration_idx``."""

    name = "aitoolbox_epoch_report"

    def __init__(self, loop: TrainLoop) -> None:
        self.loop = loop
        self.fresh: dict[str, tuple[int, dict[str, float]]] = {}

    @hookimpl(tryfirst=True)
    def on_epoch_start(self, state: State) -> None:
        self.loop.loss_accum_tensors.clear()
        self.loop.in_step = False
        self.loop.in_epoch = True

    @hookimpl(tryfirst=True)
    def on_train_step_start(self, state: State) -> None:
        self.loop.before_backward = True
        self.loop.in_step = True

    @hookimpl(tryfirst=True)
    def on_after_backward(self, state: State) -> None:
        self.loop.before_backward = False

    @hookimpl(tryfirst=True)
    def on_train_step_end(self, state: State, result: StepResult) -> None:
        # aitoolbox kept each batch's undivided loss, detached (a MultiLoss stays one).
        loss: Any = result.outputs if result.outputs is not None else result.loss
        self.loop.loss_accum_tensors.append(loss.detach())

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        self.fresh[split] = (state.micro_step, dict(metrics))

    @hookimpl(tryfirst=True)
    def on_epoch_end(self, state: State) -> None:
        loop = self.loop
        loop.in_step = False
        report: dict[str, Any] = {}
        if loop.loss_accum_tensors:
            report.update(_named("accumulated_loss", _mean(loop.loss_accum_tensors)))
        for split in ("train", "val"):
            stamp, metrics = self.fresh.get(split, (-1, {}))
            if stamp == state.micro_step and any(k.split("/")[0] == "loss" for k in metrics):
                loss = loss_value(metrics)
                report.update(_named(_HISTORY_KEY[split], loss))
                loop.prediction_store._insert_data(
                    f"{split}_loss", loss, loop.total_iteration_idx, force_prediction=True
                )
        for key, value in report.items():
            loop.train_history.insert_single_result_into_history(key, value)
        if loop.is_main_process() and loop.print_epoch_losses and report:
            listing = ", ".join(f"{key}: {value:.6g}" for key, value in report.items())
            print(f"Epoch {state.epoch}: {listing}")

    @hookimpl(tryfirst=True)
    def on_fit_end(self, state: State) -> None:
        loop = self.loop
        if loop.test_loader is not None and loop.end_auto_eval:
            loss = loop.evaluate_loss_on_test_set()
            for key, value in _named(_HISTORY_KEY["test"], loss).items():
                loop.train_history.insert_single_result_into_history(key, value)


class MessagePurge:
    """Drops ``UNTIL_END_OF_EPOCH`` messages after every ``on_epoch_end`` ran."""

    name = "aitoolbox_message_purge"

    def __init__(self, loop: TrainLoop) -> None:
        self.loop = loop

    @hookimpl(trylast=True)
    def on_epoch_end(self, state: State) -> None:
        self.loop.message_service.end_of_epoch_trigger()
        self.loop.in_epoch = False


def _named(key: str, loss: Any) -> dict[str, float]:
    """A loss as history entries: ``key``, or ``key_<name>`` per loss of a MultiLoss."""
    if isinstance(loss, MultiLoss):
        return {f"{key}_{name}": float(value) for name, value in loss.items()}
    return {key: float(loss)}


def _mean(losses: list[Any]) -> Any:
    """The mean of the epoch's batch losses, in float64 as aitoolbox parsed them."""
    if isinstance(losses[0], MultiLoss):
        names = sorted(losses[0])
        stacked = torch.stack([torch.stack([b[n] for n in names]) for b in losses]).double()
        return MultiLoss(dict(zip(names, stacked.mean(dim=0), strict=True)))
    return torch.stack([torch.as_tensor(b) for b in losses]).double().mean()
