"""``ModelPredictionStore``: predictions and losses cached for one ``total_iteration_idx``.

Several callbacks asking for the validation predictions at the same point of training
share one prediction pass. Entries are ``<split>_pred`` / ``<split>_loss`` (split ``train``,
``val`` or ``test``) next to ``iteration_idx``, the point they were made at; with
``auto_purge`` an insert at a later iteration first drops everything older, as aitoolbox's
store did.
"""

from __future__ import annotations

from typing import Any

from unitrain.errors import UnitrainError

__all__ = ["ModelPredictionStore", "PredictionStoreError"]

_SPLITS = ("train", "val", "test")


class PredictionStoreError(UnitrainError, ValueError):
    """A cache entry asked for that is not there, or inserted twice (aitoolbox: ValueError)."""


class ModelPredictionStore:
    """The cache behind ``predict_on_*`` and ``evaluate_loss_on_*`` of a train loop."""

    def __init__(self, auto_purge: bool = False) -> None:
        self.do_auto_purge = auto_purge
        self.prediction_store: dict[str, Any] = {"iteration_idx": -1}

    def __getattr__(self, name: str) -> Any:
        # insert_/get_/has_ × train/val/test × predictions/loss: one rule, not 18 methods.
        action, _, rest = name.partition("_")
        split, _, kind = rest.partition("_")
        if (
            action in ("insert", "get", "has")
            and split in _SPLITS
            and kind in ("predictions", "loss")
        ):
            key = f"{split}_{'pred' if kind == 'predictions' else 'loss'}"
            if action == "insert":
                return lambda data, iteration_idx, force_prediction=False: self._insert_data(
                    key, data, iteration_idx, force_prediction
                )
            if action == "get":
                return lambda iteration_idx: self._get_data(key, iteration_idx)
            return lambda iteration_idx: self._has_data(key, iteration_idx)
        raise AttributeError(f"'ModelPredictionStore' object has no attribute {name!r}")

    def _insert_data(
        self, source_name: str, data: Any, iteration_idx: int, force_prediction: bool = False
    ) -> None:
        self.auto_purge(iteration_idx)
        if self._has_data(source_name, iteration_idx) and not force_prediction:
            raise PredictionStoreError(
                f"ModelPredictionStore: {source_name} of iteration {iteration_idx} is already "
                "cached; pass force_prediction=True to replace it"
            )
        self.prediction_store[source_name] = data

    def _get_data(self, source_name: str, iteration_idx: int) -> Any:
        if not self._has_data(source_name, iteration_idx):
            raise PredictionStoreError(
                f"ModelPredictionStore: no {source_name} cached for iteration {iteration_idx}"
            )
        return self.prediction_store[source_name]

    def _has_data(self, source_name: str, iteration_idx: int) -> bool:
        return (
            source_name in self.prediction_store
            and iteration_idx == self.prediction_store["iteration_idx"]
        )

    def auto_purge(self, iteration_idx: int) -> None:
        """With ``auto_purge``: drop every entry older than ``iteration_idx``."""
        if self.do_auto_purge and iteration_idx > self.prediction_store["iteration_idx"]:
            self.prediction_store = {"iteration_idx": iteration_idx}
