"""``predict_on_*`` / ``evaluate_loss_on_*`` of an aitoolbox callback on a native trainer.

The methods, caching and return shapes are the ``TrainLoop``'s own
(:class:`~.predictions.PredictionPasses`); only the two passes differ. A native trainer's
loaders are local to its ``fit``, so the view keeps what it sees: the training data as
``make_epoch_batches`` hands it over, and, per evaluation split, the batches its latest
evaluation drew (``on_eval_step_start``; one split's batches are held until the next
evaluation of that split). A pass runs the task's ``compute_step`` (losses) or
``predict_batch`` and ``split_batch`` (predictions, targets) on them, after the
trainer's ``run_prepare_batch``, in eval mode under ``no_grad``, with the random states
forked (re-iterating a shuffling train loader draws a seed), and fires no trainer event: the
training that follows is bit for bit the same with or without the callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.predictions import (
    DATASET_TYPE,
    PredictionPasses,
    append_predictions,
    torch_cat_transf,
)
from unitrain.core.aggregate import MeanAccumulator
from unitrain.core.contract import IMiniBatch
from unitrain.core.result import StepResult
from unitrain.errors import ConfigError, StageError
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager

__all__ = ["NativePasses", "SplitRecorder"]

_GIVE = 'fit(train_data, eval_data={"val": ..., "test": ...})'


class NativePasses(PredictionPasses):
    """The prediction passes of :class:`~.native.NativeLoopView`, run on the native task."""

    manager: PluginManager | None = None
    recorded: dict[str, Any]
    callbacks_handler: Any

    def init_passes(self) -> None:
        """aitoolbox's default collation; nothing seen yet (the manager is set on joining)."""
        self.collate_batch_pred_fn = append_predictions
        self.pred_transform_fn = torch_cat_transf
        self.recorded = {}
        self.manager = None

    def _loader(self, split: str) -> Any:
        data = self.recorded.get(split)
        if data is None:
            where = (
                "the train set is known once the native fit starts"
                if split == "train"
                else f"give it as split {split!r} to {_GIVE}; it is known after the trainer "
                f"evaluated it once (evaluations run at each epoch's end)"
            )
            raise ConfigError(
                f"this aitoolbox callback asks for the {DATASET_TYPE[split]} set "
                f"(split {split!r}), which the native unitrain.Trainer has not seen: {where}"
            )
        return data

    def _each(self, batches: Iterable[Any], step: Callable[[Any, Any], Any]) -> Iterator[Any]:
        """``step(task, batch)`` on each prepared batch: eval mode, no grad, RNG forked."""
        state, task = self._native()
        model = state.model
        assert model is not None and self.manager is not None
        hooks = self.manager.hooks
        was_training = model.training
        devices = [torch.cuda.current_device()] if state.device.type == "cuda" else []
        model.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                for batch in batches:
                    yield step(task, hooks.run_prepare_batch(state, batch))
        finally:
            model.train(was_training)

    def _native(self) -> tuple[State, Any]:
        state = self.state  # type: ignore[attr-defined]
        task = None if self.manager is None else self.manager.get("task")
        needed = ("compute_step", "predict_batch", "split_batch")
        if state.model is None or not all(callable(getattr(task, n, None)) for n in needed):
            raise ConfigError(
                "predict_on_* / evaluate_loss_on_* on a native trainer need a unitrain.Task "
                "(its compute_step / predict_batch make the losses and predictions)"
            )
        return state, task

    def evaluate_model_metrics(self, data_loader: Any, split: str = "eval") -> dict[str, float]:
        """The mean losses and metrics of the task over ``data_loader`` (batch-size weighted,
        as the trainer's own evaluation averages them)."""
        totals = MeanAccumulator()
        for result in self._each(data_loader, _compute_step):
            totals.add(result)
        return totals.compute()

    def predict_with_model(
        self,
        data_loader: Any,
        execute_callbacks: bool = False,
        move_to_cpu: bool = False,
        dataset_info: dict[str, Any] | None = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        """``(y_pred, y_true, metadata)``: the task's ``predict_batch`` (what
        ``Trainer.predict`` returns) and the batch's targets over ``data_loader``,
        concatenated; ``metadata`` is empty (a native batch carries none)."""
        outputs = []
        for y_pred, y_true in self._each(data_loader, _predict_step):
            if execute_callbacks:
                self.callbacks_handler.execute_after_batch_prediction(
                    y_pred, y_true, {}, dataset_info or {}
                )
            outputs.append((y_pred, y_true, None))
        y_pred, y_true, metadata = self._collate(outputs)
        if move_to_cpu:
            y_pred, y_true = y_pred.cpu(), y_true.cpu()
        return y_pred, y_true, metadata


def _compute_step(task: Any, batch: Any) -> StepResult:
    result = task.compute_step(batch)
    if not isinstance(result, StepResult):
        raise StageError(f"the task's compute_step returned {result!r}; expected a StepResult")
    return result


def _predict_step(task: Any, batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, IMiniBatch):
        raise ConfigError(
            "predict_on_* on a native trainer needs plain (inputs, targets) batches; a "
            "minibatch carries no targets to return as y_true"
        )
    _, targets = task.split_batch(batch)
    return task.predict_batch(batch), targets


class SplitRecorder:
    """Keeps the train data and each split's latest evaluation batches for the view."""

    name = "aitoolbox_split_recorder"

    def __init__(self, view: NativePasses) -> None:
        self.view = view
        self.pending: dict[str, list[Any]] = {}

    @hookimpl
    def make_epoch_batches(self, state: State, loader: object, batches: Iterable[Any]) -> None:
        self.view.recorded["train"] = loader

    @hookimpl
    def on_eval_start(self, state: State, split: str) -> None:
        self.pending[split] = []

    @hookimpl
    def on_eval_step_start(self, state: State, split: str, batch: Any) -> None:
        self.pending.setdefault(split, []).append(batch)

    @hookimpl
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        self.view.recorded[split] = self.pending.pop(split, [])
