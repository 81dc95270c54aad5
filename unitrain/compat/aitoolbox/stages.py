"""The unitrain task behind a compat ``TrainLoop``: stages that call the ``TTModel``.

The loader's batch reaches the model untouched (``get_loss(batch, criterion, device)``
moves it), so ``run_prepare_batch`` returns it as is. A :class:`MultiLoss` result has no
single ``loss``: its backward runs here, per optimizer, through ``state.grad_scaler`` when
mixed precision set one. Evaluation losses are plain means over batches, as aitoolbox
computed them (each batch has weight 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.model import MultiLoss
from unitrain.core.result import StepResult
from unitrain.errors import StageError
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.task import Task

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop
    from unitrain.core.state import State

__all__ = ["TTModelTask"]


class TTModelTask(Task):
    """Default stages for a ``TTModel`` / ``ModelWrap`` driven by a compat train loop."""

    def __init__(self, loop: TrainLoop) -> None:
        super().__init__(loop.model)
        self.loop = loop

    @property
    def tt_model(self) -> Any:
        """The model, typed loosely: its ``get_*`` methods are the aitoolbox contract."""
        return self.model

    @hookimpl
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None:
        return self.loop.optimizers()

    @hookimpl
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        return batch

    @hookimpl
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        loss = self.tt_model.get_loss(batch, self.loop.criterion, state.device)
        return _result(loss, "get_loss", train=True)

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        multi = result.outputs
        if not isinstance(multi, MultiLoss):
            return super().run_backward(state, result)
        for index in range(len(state.optimizers)):
            multi.backward(index, state.batch_idx, state.grad_scaler, state.accumulation_window)
        return True

    @hookimpl
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        loss = self.tt_model.get_loss_eval(batch, self.loop.criterion, state.device)
        return _result(loss, "get_loss_eval", train=False)

    @hookimpl
    def run_predict_step(self, state: State, batch: Any) -> Any:
        output = self.tt_model.get_predictions(batch, state.device)
        if not isinstance(output, tuple | list) or len(output) != 3:
            raise StageError(
                f"{type(self.model).__name__}.get_predictions returned "
                f"{type(output).__name__}; expected the tuple (y_pred, y_true, metadata) "
                "(metadata may be None)"
            )
        return tuple(output)


def _result(loss: Any, method: str, train: bool) -> StepResult:
    if isinstance(loss, MultiLoss):
        losses = {name: (1.0, value) for name, value in loss.items()}
        # No single training loss: MultiLoss backpropagates per optimizer (run_backward).
        return StepResult(
            loss=None if train else loss.total(), losses=losses, outputs=loss, batch_size=1
        )
    if not isinstance(loss, torch.Tensor):
        raise StageError(
            f"the model's {method} returned {type(loss).__name__}; expected a scalar loss "
            "tensor or a MultiLoss"
        )
    return StepResult(loss=loss, losses={"loss": (1.0, loss)}, batch_size=1)
