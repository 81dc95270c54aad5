"""The unitrain task behind a compat ``TrainLoop``: stages that call the ``TTModel``.

The loader's batch reaches the model untouched (``get_loss(batch, criterion, device)``
moves it): it travels through the engine inside a :class:`~.predictions.SeedBatch` and
``run_prepare_batch`` unwraps it. The step is aitoolbox's: the loss is divided by
``grad_accumulation`` (always that number, also in a short last window: a user's numbers
reproduce) and backpropagated with ``loss.backward()`` through the loop's grad scaler
(disabled, so a plain backward, unless mixed precision is on); a :class:`MultiLoss`
backpropagates per optimizer. Losses and optimizers are duck-typed as aitoolbox allowed: a
loss needs ``backward`` / ``detach``, an optimizer ``step`` / ``zero_grad``. Evaluation
losses are plain means over batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.model import MultiLoss, MultiOptimizer
from unitrain.compat.aitoolbox.predictions import SeedBatch
from unitrain.core.result import StepResult
from unitrain.errors import StageError
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.task import Task

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop
    from unitrain.core.state import State

__all__ = ["SeedOptimizer", "TTModelTask"]


class SeedOptimizer:
    """The engine's handle on one optimizer of an aitoolbox loop that is not a plain torch
    optimizer (a duck-typed object, or one slot of a :class:`MultiOptimizer`).

    ``step`` is aitoolbox's ``step`` then ``zero_grad`` call (``MultiOptimizer`` gets
    ``optimizer_idx`` and the iteration); the engine's own ``zero_grad`` after the step is
    then a no-op, so the user's object sees exactly aitoolbox's calls.
    """

    def __init__(self, loop: TrainLoop, index: int) -> None:
        self.loop = loop
        self.index = index

    @property
    def target(self) -> Any:
        """The user's optimizer object (a ``MultiOptimizer`` for every slot of one)."""
        return self.loop.optimizer

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The wrapped optimizer's parameter groups, when it has any."""
        target = self.target
        if isinstance(target, MultiOptimizer):
            target = target.optimizer_list[self.index]
        return list(getattr(target, "param_groups", []))

    def step(self) -> None:
        target, iteration = self.target, self.loop.iteration
        scaler = self.loop.amp_scaler  # disabled unless mixed precision: a plain step
        if isinstance(target, MultiOptimizer):
            target.step(self.index, iteration, scaler)
            target.zero_grad(self.index, iteration)
        else:
            scaler.step(target)
            target.zero_grad()

    def zero_grad(self) -> None:
        """Nothing: :meth:`step` already cleared the gradients as aitoolbox did."""

    def state_dict(self) -> Any:
        return self.target.state_dict() if self.index == 0 else {}

    def load_state_dict(self, state: Any) -> None:
        if self.index == 0:
            self.target.load_state_dict(state)


class TTModelTask(Task):
    """Default stages for a ``TTModel`` / ``ModelWrap`` driven by a compat train loop."""

    def __init__(self, loop: TrainLoop) -> None:
        super().__init__(loop.model)
        self.loop = loop

    @property
    def tt_model(self) -> Any:
        """What answers ``get_loss`` / ``get_loss_eval`` / ``get_predictions``: the model, or
        for a ``ModelWrap`` its feed definition bound to the plain module."""
        feed = self.loop.batch_model_feed_def
        return self.model if feed is None else _Fed(feed, self.model)

    @hookimpl
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[Any] | None:
        optimizer = self.loop.optimizer
        if optimizer is None:
            raise StageError(
                "TrainLoop(optimizer=None) can only predict and evaluate; give it an optimizer "
                "to fit"
            )
        if isinstance(optimizer, torch.optim.Optimizer):
            return [optimizer]
        if isinstance(optimizer, MultiOptimizer) and all(
            isinstance(o, torch.optim.Optimizer) for o in optimizer.optimizer_list
        ):
            return list(optimizer.optimizer_list)
        count = len(optimizer.optimizer_list) if isinstance(optimizer, MultiOptimizer) else 1
        return [SeedOptimizer(self.loop, index) for index in range(count)]

    @hookimpl
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        return batch.raw if isinstance(batch, SeedBatch) else batch

    @hookimpl
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        loss = self.tt_model.get_loss(batch, self.loop.criterion, state.device)
        return _result(loss, "get_loss", train=True)

    @hookimpl
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        # aitoolbox divided every batch's loss by grad_accumulation (also 1, also in a short
        # last window) and always went through its (possibly disabled) grad scaler.
        loss: Any = result.outputs / self.loop.grad_accumulation
        scaler = self.loop.amp_scaler
        if isinstance(loss, MultiLoss):
            for index in range(len(state.optimizers)):
                loss.backward(index, self.loop.iteration, scaler)
            return True
        scaler.scale(loss).backward()
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


class _Fed:
    """A feed definition with its module, answering like a ``TTModel``."""

    def __init__(self, feed: Any, model: torch.nn.Module) -> None:
        self.feed, self.model = feed, model

    def get_loss(self, batch: Any, criterion: Any, device: Any) -> Any:
        return self.feed.get_loss(self.model, batch, criterion, device)

    def get_loss_eval(self, batch: Any, criterion: Any, device: Any) -> Any:
        return self.feed.get_loss_eval(self.model, batch, criterion, device)

    def get_predictions(self, batch: Any, device: Any) -> Any:
        return self.feed.get_predictions(self.model, batch, device)


def _result(loss: Any, method: str, train: bool) -> StepResult:
    if isinstance(loss, MultiLoss):
        losses = {name: (1.0, value) for name, value in loss.items()}
        # No single loss: a MultiLoss backpropagates per optimizer (run_backward), and an
        # eval pass averages each named loss on its own (``loss/<name>``).
        single = None if len(losses) > 1 or train else next(iter(loss.values()))
        return StepResult(loss=single, losses=losses, outputs=loss, batch_size=1)
    if not callable(getattr(loss, "detach", None)) or (
        train and not callable(getattr(loss, "backward", None))
    ):
        raise StageError(
            f"the model's {method} returned {type(loss).__name__}; expected a scalar loss "
            "tensor (or an object with backward() and detach()) or a MultiLoss"
        )
    return StepResult(loss=loss, losses={"loss": (1.0, loss)}, outputs=loss, batch_size=1)
