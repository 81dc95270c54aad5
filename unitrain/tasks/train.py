"""The train meta-algorithm's default stages (PytorchTask's ``PytorchTrainable``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from unitrain.core.batch import move_to_device as to_device
from unitrain.core.contract import IMiniBatch
from unitrain.core.result import StepResult
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.base import REWEIGHT, TaskBase, batch_size_of
from unitrain.tasks.optimizers import optimizers_given

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["TrainStages"]

_new = object.__new__


class TrainStages(TaskBase):
    """Default providers and training stages; override any of them in a subclass."""

    @hookimpl
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None:
        return optimizers_given(self.optimizer, model)

    @hookimpl
    def on_fit_start(self, state: State) -> None:
        # a loss class may have gained a loss_reweight since the last fit: find them anew
        self.weight_sources.clear()
        self.check_optimizers(len(state.optimizers))

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
            if len(batch) == 2:  # unrolled: a comprehension is one more call a step
                inputs, targets = batch
                inputs = inputs.to(device) if type(inputs) is Tensor else to_device(inputs, device)
                targets = (
                    targets.to(device) if type(targets) is Tensor else to_device(targets, device)
                )
                return (inputs, targets) if kind is tuple else [inputs, targets]
            return kind(
                [
                    item.to(device) if type(item) is Tensor else to_device(item, device)
                    for item in batch
                ]
            )
        batch = to_device(batch, state.device)
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
            model = self.model  # read, then called: self.model(...) is a slower method lookup
            outputs = model(inputs)
            losses: dict[str, tuple[float, Tensor]] = {}
            total: Tensor | None = None
            sources = self.weight_sources
            for name, function in self.losses.items():  # total_loss's sum, inlined
                # loss_weight's usual case inlined (a call less): a loss whose class defines
                # no weight has it, if at all, in its own __dict__
                entry = sources.get(id(function))
                if entry is not None and entry[0] is function and entry[1][1] is None:
                    weight = entry[1][0].get(REWEIGHT)
                    if type(weight) is not float:
                        weight = 1.0 if weight is None else float(weight)
                else:
                    weight = self.loss_weight(function)
                raw = function(outputs, targets)
                losses[name] = (weight, raw)
                term = raw if weight == 1.0 else raw * weight
                total = term if total is None else total + term
            metrics = self.compute_metrics(batch, outputs, targets) if self.metrics else {}
            plain = type(inputs) is Tensor and inputs.ndim
            size = inputs.shape[0] if plain else batch_size_of(inputs)
            # StepResult(...) without its __init__: calling a class enters a second evaluation
            # loop for __init__ (CPython 3.11); the six fields are all set here
            result: StepResult = _new(StepResult)
            result.loss, result.losses, result.metrics = total, losses, metrics
            result.outputs, result.targets, result.batch_size = outputs, targets, size
            return result
        if self.optimization != "automatic":  # one loss per optimizer, or by hand
            return self.optimization_step(state, batch)
        return self.compute_step(batch)

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        loss = result.loss
        if loss is None:
            loss = self.require_loss(result)  # raises, saying how to give the task a loss
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
