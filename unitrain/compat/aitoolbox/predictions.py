"""Prediction and loss-evaluation passes of the compat train loop, run by the engine.

Every pass is the engine's own (``evaluation_pass`` / ``prediction_pass``), so native plugins
see it too. Results are cached per ``total_iteration_idx`` in a :class:`ModelPredictionStore`
so several callbacks at one point share one pass; the losses the engine evaluated at the
epoch's end are put in the cache, so ``evaluate_loss_on_validation_set()`` in
``on_epoch_end`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.data import make_loader
from unitrain.core.passes import evaluation_pass, prediction_pass
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.trainer import Trainer

__all__ = [
    "LoaderView",
    "ModelPredictionStore",
    "PredictionPasses",
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


class LoaderView:
    """A live view of one of the loop's loader attributes.

    The engine iterates it afresh every epoch, so a callback that swaps
    ``train_loop_obj.train_loader`` (``DataSubsetTestRun``) changes what the engine reads.
    """

    def __init__(self, owner: object, attribute: str) -> None:
        self.owner = owner
        self.attribute = attribute

    @property
    def target(self) -> Any:
        """The loader the attribute holds now."""
        return getattr(self.owner, self.attribute)

    @property
    def sampler(self) -> Any:
        """The current loader's sampler (the engine calls its ``set_epoch``)."""
        return getattr(self.target, "sampler", None)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.target)

    def __len__(self) -> int:
        return len(self.target)


class ModelPredictionStore:
    """Losses and predictions cached for the ``total_iteration_idx`` they were made at."""

    def __init__(self, auto_purge: bool = True) -> None:
        self.auto_purge = auto_purge
        self._losses: dict[str, tuple[int, dict[str, float]]] = {}
        self._predictions: dict[str, tuple[int, Any]] = {}

    def insert_loss(self, split: str, stamp: int, metrics: dict[str, float]) -> None:
        """Cache an evaluation's metrics for ``split`` at ``stamp``."""
        self._losses[split] = (stamp, dict(metrics))

    def get_loss(self, split: str, stamp: int) -> dict[str, float] | None:
        """The cached metrics of ``split`` if they were made at ``stamp``."""
        saved = self._losses.get(split)
        return saved[1] if saved is not None and saved[0] == stamp else None

    def insert_predictions(self, split: str, stamp: int, predictions: Any) -> None:
        """Cache a prediction pass of ``split`` at ``stamp``."""
        self._predictions[split] = (stamp, predictions)

    def get_predictions(self, split: str, stamp: int) -> Any:
        """The cached predictions of ``split`` if made at ``stamp``, else ``None``."""
        saved = self._predictions.get(split)
        return saved[1] if saved is not None and saved[0] == stamp else None


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

    def evaluate_split(self, split: str, force_prediction: bool = False) -> dict[str, float]:
        """The averaged eval metrics of ``split`` (cached for this iteration)."""
        stamp = self.total_iteration_idx
        cached = None if force_prediction else self.prediction_store.get_loss(split, stamp)
        if cached is not None:
            return cached
        metrics = self.evaluate_model_loss(self._loader(split), split)
        self.prediction_store.insert_loss(split, stamp, metrics)
        return metrics

    def evaluate_model_loss(self, data_loader: Any, split: str = "eval") -> dict[str, float]:
        """One engine evaluation pass over ``data_loader``; its averaged metrics."""
        trainer = self.ensure_trainer()
        loader = make_loader(data_loader, f"evaluate({split!r})", train=False)
        if trainer.state.phase == "idle":
            return trainer.evaluate(loader.batches, split)
        return evaluation_pass(trainer, split, loader)

    def _loss(self, split: str, force_prediction: bool, float_dict_format: bool) -> Any:
        metrics = self.evaluate_split(split, force_prediction)
        parts = {k[5:]: v for k, v in metrics.items() if k.startswith("loss/")}
        if parts:
            return parts
        return {"loss": metrics["loss"]} if float_dict_format else metrics["loss"]

    def evaluate_loss_on_train_set(
        self, force_prediction: bool = False, float_dict_format: bool = False
    ) -> Any:
        """Mean ``get_loss_eval`` over the train set (a dict per loss for a MultiLoss)."""
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
        stamp = self.total_iteration_idx
        use_cache = not force_prediction and not execute_callbacks
        cached = self.prediction_store.get_predictions(split, stamp) if use_cache else None
        if cached is not None:
            return cached
        info = {"type": DATASET_TYPE[split]}
        result = self.predict_with_model(self._loader(split), execute_callbacks, info)
        self.prediction_store.insert_predictions(split, stamp, result)
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
        dataset_info: dict[str, Any] | None = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        """One engine prediction pass; the batches collated into ``(y_pred, y_true, meta)``.

        With ``execute_callbacks`` every callback's ``on_after_batch_prediction`` runs after
        each batch, with ``dataset_info``.
        """
        trainer = self.ensure_trainer()
        loader = make_loader(data_loader, "predict(data_loader)", train=False)
        self.prediction_callbacks_info = (dataset_info or {}) if execute_callbacks else None
        try:
            if trainer.state.phase == "idle":
                outputs = trainer.predict(loader.batches)
            else:
                outputs = _nested_prediction(trainer, loader)
        finally:
            self.prediction_callbacks_info = None
        return self._collate(outputs)

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
