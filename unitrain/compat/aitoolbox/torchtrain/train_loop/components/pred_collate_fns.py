"""``aitoolbox.torchtrain.train_loop.components.pred_collate_fns``: collecting predictions.

``collate_batch_pred_fn(y_batch, predictions)`` adds one batch to the list;
``pred_transform_fn(predictions)`` turns the list into the final result.
"""

from __future__ import annotations

from typing import Any

from unitrain.compat.aitoolbox.predictions import append_predictions, torch_cat_transf

__all__ = [
    "append_concat_predictions",
    "append_predictions",
    "keep_list_transf",
    "torch_cat_transf",
]


def append_concat_predictions(y_batch: Any, predictions: list[Any]) -> list[Any]:
    """Extend by a list batch (its items), append any other batch."""
    if isinstance(y_batch, list):
        predictions += y_batch
    else:
        predictions.append(y_batch)
    return predictions


def keep_list_transf(predictions: list[Any]) -> list[Any]:
    """Keep the collected list as it is."""
    return predictions
