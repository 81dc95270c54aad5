"""The compat train loop's own plugins: the end-of-epoch report and the message purge.

``EpochReport`` (``tryfirst``) writes the epoch's losses into ``train_history`` before any
callback's ``on_epoch_end`` runs: ``accumulated_loss`` (mean training batch loss, summed on
the device and read once per epoch), and when the engine evaluated this epoch, ``loss``
(train split) and ``val_loss`` (val split). At the fit's end it adds
``train_end_test_loss``. ``MessagePurge`` (``trylast``) drops the epoch's messages after
every callback ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

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

    def on_epoch_start(self, state: State) -> None:
        self.loop.loss_accum_tensors.clear()
        self.loop.in_step = False

    @hookimpl(tryfirst=True)
    def on_train_step_start(self, state: State) -> None:
        self.loop.before_backward = True
        self.loop.in_step = True

    @hookimpl(tryfirst=True)
    def on_after_backward(self, state: State) -> None:
        self.loop.before_backward = False

    @hookimpl(tryfirst=True)
    def on_train_step_end(self, state: State, result: StepResult) -> None:
        loss = result.loss if result.loss is not None else _sum(result.losses)
        self.loop.loss_accum_tensors.append(loss.detach())

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        self.fresh[split] = (state.micro_step, dict(metrics))

    @hookimpl(tryfirst=True)
    def on_epoch_end(self, state: State) -> None:
        self.loop.in_step = False
        history = self.loop.train_history
        report: dict[str, Any] = {}
        if self.loop.loss_accum_tensors:
            accumulated = torch.stack(self.loop.loss_accum_tensors).float().mean().item()
            report["accumulated_loss"] = accumulated
        for split in ("train", "val"):
            stamp, metrics = self.fresh.get(split, (-1, {}))
            if stamp == state.micro_step and "loss" in metrics:
                report.update(_named(_HISTORY_KEY[split], metrics))
                self.loop.prediction_store.insert_loss(
                    split, self.loop.total_iteration_idx, metrics
                )
        for key, value in report.items():
            history.insert_single_result_into_history(key, value)
        if self.loop.is_main_process() and self.loop.print_epoch_losses and report:
            listing = ", ".join(f"{key}: {value:.6g}" for key, value in report.items())
            print(f"Epoch {state.epoch}: {listing}")

    @hookimpl(tryfirst=True)
    def on_fit_end(self, state: State) -> None:
        if self.loop.test_loader is not None and self.loop.end_auto_eval:
            metrics = self.loop.evaluate_split("test")
            for key, value in _named(_HISTORY_KEY["test"], metrics).items():
                self.loop.train_history.insert_single_result_into_history(key, value)


class MessagePurge:
    """Drops ``UNTIL_END_OF_EPOCH`` messages after every ``on_epoch_end`` ran."""

    name = "aitoolbox_message_purge"

    def __init__(self, loop: TrainLoop) -> None:
        self.loop = loop

    @hookimpl(trylast=True)
    def on_epoch_end(self, state: State) -> None:
        self.loop.message_service.end_of_epoch_trigger()


def _named(key: str, metrics: dict[str, float]) -> dict[str, float]:
    """``loss`` → ``key``; each ``loss/<name>`` of a MultiLoss → ``key_<name>``."""
    named = {key: metrics["loss"]}
    for name, value in metrics.items():
        if name.startswith("loss/"):
            named[f"{key}_{name[5:]}"] = value
    return named


def _sum(losses: dict[str, tuple[float, torch.Tensor]]) -> torch.Tensor:
    values = [raw for _, raw in losses.values()]
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total
