"""Prediction and loss-evaluation passes of the compat train loop, run by the engine.

Every pass is the engine's own (``evaluation_pass`` / ``prediction_pass``), so native plugins
see it too. Results are cached per ``total_iteration_idx`` in the loop's
:class:`~.prediction_store.ModelPredictionStore`, so several callbacks at one point share
one pass; the losses the engine evaluated at the epoch's end are put in that cache, so
``evaluate_loss_on_validation_set()`` in ``on_epoch_end`` costs nothing.

A loader's batches reach ``get_loss`` / ``get_predictions`` exactly as the loader yields them
(aitoolbox's contract: any object, moved by the model itself); on their way through the
engine they travel inside a :class:`SeedBatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.model import MultiLoss
from unitrain.compat.aitoolbox.prediction_store import ModelPredictionStore
from unitrain.core.contract import IMiniBatch
from unitrain.core.data import make_loader
from unitrain.core.passes import evaluation_pass, prediction_pass
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.trainer import Trainer

__all__ = [
    "LoaderView",
    "ModelPredictionStore",
    "PredictionPasses",
    "SeedBatch",
    "SeedLoader",
    "append_predictions",
    "torch_cat_transf",
]

SPLITS = {"train": "train_loader", "val": "validation_loader", "test": "test_loader"}
DATASET_TYPE = {"train": "train", "val": "validation", "test": "test"}


def append_predictions(y_batch: Any, predictions_list: list[Any]) -> list[Any]:
    """aitoolbox's default ``collate_batch_pred_fn``: collect each batch's predictions."""
    predictions_list.append(y_batch)
    return predictions_list


def torch_cat_transf(predictions_list: list[Any]) -> Any:
    """aitoolbox's default ``pred_transform_fn``: concatenate the batches' tensors."""
    return torch.cat(predictions_list)


class SeedBatch(IMiniBatch):
    """One loader batch as it was yielded (``raw``), opaque to the engine's batch checks.

    The engine moves nothing: the ``TTModel`` moves what it needs to ``device``.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SeedBatch:
        return self


class SeedLoader:
    """An aitoolbox loader (any re-iterable of batches) as the engine sees it."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    @property
    def target(self) -> Any:
        """The loader iterated now."""
        return self.loader

    @property
    def sampler(self) -> Any:
        """The current loader's sampler (the engine calls its ``set_epoch``)."""
        return getattr(self.target, "sampler", None)

    def __iter__(self) -> Iterator[SeedBatch]:
        return (SeedBatch(batch) for batch in self.target)

    def __len__(self) -> int:
        return len(self.target)


class LoaderView(SeedLoader):
    """A live view of one of the loop's loader attributes, optionally cut to a budget.

    The engine iterates it afresh every epoch, so a callback that swaps
    ``train_loop_obj.train_loader`` (``DataSubsetTestRun``) changes what the engine reads;
    ``budget()`` (the iterations left of ``fit(num_iterations=...)``) shortens the last epoch.
    """

    def __init__(
        self, owner: object, attribute: str, budget: Callable[[], int | None] | None = None
    ) -> None:
        super().__init__(None)
        self.owner = owner
        self.attribute = attribute
        self.budget = budget

    @property
    def target(self) -> Any:
        return getattr(self.owner, self.attribute)

    def _left(self) -> int | None:
        return None if self.budget is None else self.budget()

    def __iter__(self) -> Iterator[SeedBatch]:
        left = self._left()
        batches = super().__iter__()
        return batches if left is None else islice(batches, max(left, 0))

    def __len__(self) -> int:
        left = self._left()
        length = len(self.target)
        return length if left is None else max(0, min(length, left))


def loss_value(metrics: dict[str, float]) -> Any:
    """The engine's averaged eval metrics as aitoolbox returned a loss: a float64 tensor, or
    a :class:`MultiLoss` of them (names sorted, as aitoolbox parsed them)."""
    parts = {k[5:]: v for k, v in metrics.items() if k.startswith("loss/")}
    if parts:
        return MultiLoss(
            {name: torch.tensor(parts[name], dtype=torch.float64) for name in sorted(parts)}
        )
    return torch.tensor(metrics["loss"], dtype=torch.float64)


def float_dict(loss: Any) -> Any:
    """aitoolbox's ``float_dict_format``: a float, or a plain dict of floats for a MultiLoss."""
    if isinstance(loss, MultiLoss):
        return {name: float(value) for name, value in loss.items()}
    return float(loss)


class PredictionPasses:
    """The ``predict_on_*`` / ``evaluate_loss_on_*`` methods callbacks call."""

    collate_batch_pred_fn: Callable[[Any, list[Any]], list[Any]]
    pred_transform_fn: Callable[[list[Any]], Any]
    prediction_store: ModelPredictionStore
    prediction_callbacks_info: dict[str, Any] | None

    def ensure_trainer(self) -> Trainer:  # implemented by the train loop
        raise NotImplementedError

    @property
    def total_iteration_idx(self) -> int:  # implemented by the engine view
        raise NotImplementedError

    def _loader(self, split: str) -> Any:
        loader = getattr(self, SPLITS[split])
        if loader is None:
            raise ConfigError(
                f"the train loop has no {SPLITS[split]}; give one to the TrainLoop to "
                f"predict or evaluate on the {DATASET_TYPE[split]} set"
            )
        return loader

    # ------------------------------------------------------------------ losses

    def evaluate_split(self, split: str, force_prediction: bool = False) -> Any:
        """The mean eval loss of ``split`` (cached for this iteration)."""
        stamp, store = self.total_iteration_idx, self.prediction_store
        key = f"{split}_loss"
        if store._has_data(key, stamp) and not force_prediction:
            return store._get_data(key, stamp)
        loss = loss_value(self.evaluate_model_metrics(self._loader(split), split))
        store._insert_data(key, loss, stamp, force_prediction=True)
        return loss

    def evaluate_model_metrics(self, data_loader: Any, split: str = "eval") -> dict[str, float]:
        """One engine evaluation pass over ``data_loader``; its averaged metrics."""
        trainer = self.ensure_trainer()
        loader = make_loader(SeedLoader(data_loader), f"evaluate({split!r})", train=False)
        if trainer.state.phase == "idle":
            return trainer.evaluate(loader.batches, split)
        return evaluation_pass(trainer, split, loader)

    def evaluate_model_loss(
        self, data_loader: Any, move_to_cpu: bool = False, dataset_info: Any = None
    ) -> Any:
        """Mean ``get_loss_eval`` over ``data_loader`` (a tensor, or a MultiLoss)."""
        split = (dataset_info or {}).get("type", "eval")
        return loss_value(self.evaluate_model_metrics(data_loader, str(split)))

    def _loss(self, split: str, force_prediction: bool, float_dict_format: bool) -> Any:
        loss = self.evaluate_split(split, force_prediction)
        return float_dict(loss) if float_dict_format else loss

    def evaluate_loss_on_train_set(
        self, force_prediction: bool = False, float_dict_format: bool = False
    ) -> Any:
        """Mean ``get_loss_eval`` over the train set: a tensor or ``MultiLoss`` (float / dict
        with ``float_dict_format``)."""
        return self._loss("train", force_prediction, float_dict_format)

    def evaluate_loss_on_validation_set(
        self, force_prediction: bool = False, float_dict_format: bool = False
    ) -> Any:
        """Mean ``get_loss_eval`` over the validation set."""
        return self._loss("val", force_prediction, float_dict_format)

    def evaluate_loss_on_test_set(
        self, force_prediction: bool = False, float_dict_format: bool = False
    ) -> Any:
        """Mean ``get_loss_eval`` over the test set."""
        return self._loss("test", force_prediction, float_dict_format)

    # ------------------------------------------------------------------ predictions

    def _predict_split(self, split: str, force_prediction: bool, execute_callbacks: bool) -> Any:
        stamp, store = self.total_iteration_idx, self.prediction_store
        key = f"{split}_pred"
        if store._has_data(key, stamp) and not force_prediction:
            return store._get_data(key, stamp)
        info = {"type": DATASET_TYPE[split]}
        result = self.predict_with_model(self._loader(split), execute_callbacks, dataset_info=info)
        store._insert_data(key, result, stamp, force_prediction=True)
        return result

    def predict_on_train_set(
        self, force_prediction: bool = False, execute_callbacks: bool = False
    ) -> tuple[Any, Any, dict[str, Any]]:
        """``(y_pred, y_true, metadata)`` over the train set."""
        return self._predict_split("train", force_prediction, execute_callbacks)  # type: ignore[no-any-return]

    def predict_on_validation_set(
        self, force_prediction: bool = False, execute_callbacks: bool = False
    ) -> tuple[Any, Any, dict[str, Any]]:
        """``(y_pred, y_true, metadata)`` over the validation set."""
        return self._predict_split("val", force_prediction, execute_callbacks)  # type: ignore[no-any-return]

    def predict_on_test_set(
        self, force_prediction: bool = False, execute_callbacks: bool = False
    ) -> tuple[Any, Any, dict[str, Any]]:
        """``(y_pred, y_true, metadata)`` over the test set."""
        return self._predict_split("test", force_prediction, execute_callbacks)  # type: ignore[no-any-return]

    def predict_with_model(
        self,
        data_loader: Any,
        execute_callbacks: bool = False,
        move_to_cpu: bool = False,
        dataset_info: dict[str, Any] | None = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        """One engine prediction pass; the batches collated into ``(y_pred, y_true, meta)``.

        With ``execute_callbacks`` every callback's ``on_after_batch_prediction`` runs after
        each batch, with ``dataset_info``.
        """
        trainer = self.ensure_trainer()
        loader = make_loader(SeedLoader(data_loader), "predict(data_loader)", train=False)
        self.prediction_callbacks_info = (dataset_info or {}) if execute_callbacks else None
        try:
            if trainer.state.phase == "idle":
                outputs = trainer.predict(loader.batches)
            else:
                outputs = _nested_prediction(trainer, loader)
        finally:
            self.prediction_callbacks_info = None
        y_pred, y_true, metadata = self._collate(outputs)
        if move_to_cpu:
            y_pred, y_true = y_pred.cpu(), y_true.cpu()
        return y_pred, y_true, metadata

    def _collate(self, outputs: list[Any]) -> tuple[Any, Any, dict[str, Any]]:
        y_pred: list[Any] = []
        y_true: list[Any] = []
        metadata: dict[str, list[Any]] = {}
        for pred, true, meta in outputs:
            y_pred = self.collate_batch_pred_fn(pred, y_pred)
            y_true = self.collate_batch_pred_fn(true, y_true)
            for key, value in (meta or {}).items():
                metadata.setdefault(key, []).extend(
                    value if isinstance(value, list | tuple) else [value]
                )
        return self.pred_transform_fn(y_pred), self.pred_transform_fn(y_true), metadata


def _nested_prediction(trainer: Trainer, loader: Any) -> list[Any]:
    """A prediction pass from inside ``fit``: the loop's stage and position are restored."""
    state = trainer.state
    assert state.model is not None
    saved = (state.phase, state.split, state.batch_idx, state.model.training)
    try:
        return prediction_pass(trainer, loader)
    finally:
        state.phase, state.split, state.batch_idx = saved[:3]
        state.model.train(saved[3])
