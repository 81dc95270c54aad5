"""The train meta-algorithm's default stages (PytorchTask's ``PytorchTrainable``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.batch import move_to_device
from unitrain.core.contract import IMiniBatch
from unitrain.core.result import StepResult
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.base import TaskBase, batch_size_of, loss_weight, total_loss

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["TrainStages"]


class TrainStages(TaskBase):
    """Default providers and training stages; override any of them in a subclass."""

    @hookimpl
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None:
        if self.optimizer is None or isinstance(self.optimizer, torch.optim.Optimizer):
            return self.optimizer
        return self.optimizer(model.parameters())

    @hookimpl
    def make_scheduler(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> Any:
        return None if self.scheduler is None else self.scheduler(optimizer)

    @hookimpl
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        kind = type(batch)
        if kind is tuple or kind is list:  # the usual (inputs, targets): one flat pass
            device = state.device
            return kind(
                [
                    item.to(device) if type(item) is torch.Tensor else move_to_device(item, device)
                    for item in batch
                ]
            )
        batch = move_to_device(batch, state.device)
        if isinstance(batch, IMiniBatch):
            batch.model = self.model
        return batch

    @hookimpl
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        kind = type(batch)
        if self.default_steps and (kind is tuple or kind is list) and len(batch) == 2:
            # compute_step → split_batch → forward → compute_losses → compute_metrics for
            # an (inputs, targets) pair, flattened: nothing overrides them (checked once
            # per class, see TaskBase.default_steps), and each call saved is 1–3 µs on
            # the cold caches between a step's kernels
            inputs, targets = batch
            outputs = self.model(inputs)
            losses: dict[str, tuple[float, torch.Tensor]] = {}
            for name, function in self.losses.items():
                losses[name] = (loss_weight(function), function(outputs, targets))
            metrics = self.compute_metrics(batch, outputs, targets) if self.metrics else {}
            size = batch_size_of(inputs)
            return StepResult(total_loss(losses), losses, metrics, outputs, targets, size)
        return self.compute_step(batch)

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        loss = self.require_loss(result)
        if state.accumulation_window > 1:
            loss = loss / state.accumulation_window
        torch.autograd.backward(loss)  # = loss.backward(), which torch leaves untyped
        return True

    @hookimpl
    def run_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> bool | None:
        optimizer.step()
        return True
