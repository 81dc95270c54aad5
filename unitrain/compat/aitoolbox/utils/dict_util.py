"""``aitoolbox.utils.dict_util``: merging prediction metadata and flattening histories."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from unitrain.errors import ConfigTypeError

__all__ = [
    "combine_dict_elements",
    "combine_prediction_metadata_batches",
    "flatten_combine_dict",
    "flatten_dict",
]


def combine_prediction_metadata_batches(
    metadata_list: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """Concatenate per-batch metadata dicts key by key (lists, tensors or numpy arrays)."""
    collected: dict[str, list[Any]] = {}
    for batch in metadata_list:
        for key, value in batch.items():
            collected.setdefault(key, []).append(value)
    combined: dict[str, Any] = {}
    for key, parts in collected.items():
        first = parts[0]
        if isinstance(first, list):
            combined[key] = [item for part in parts for item in part]
        elif isinstance(first, torch.Tensor):
            combined[key] = torch.cat(parts, dim=0)
        elif isinstance(first, np.ndarray):
            combined[key] = np.concatenate(parts, axis=0)
        else:
            raise ConfigTypeError(
                f"prediction metadata {key!r} is a {type(first).__name__}; each batch's "
                "metadata values must be a list, a torch.Tensor or a numpy array"
            )
    return combined


def flatten_dict(
    nested_dict: Mapping[str, Any], parent_key: str = "", sep: str = "_"
) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a_b": 1}`` at any depth."""
    flat: dict[str, Any] = {}
    for key, value in nested_dict.items():
        name = f"{parent_key}{sep}{key}" if parent_key else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_dict(value, name, sep=sep))
        else:
            flat[name] = value
    return flat


def combine_dict_elements(list_of_dicts: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Gather the values of each key across ``list_of_dicts`` into one list per key."""
    combined: dict[str, list[Any]] = {}
    for entry in list_of_dicts:
        for key, value in entry.items():
            combined.setdefault(key, []).append(value)
    return combined


def flatten_combine_dict(train_history: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """A history whose per-epoch dict values become one list per ``<metric>_<key>``.

    A metric with no values yet is left out, as in aitoolbox (its check "every value is a
    dict" holds for an empty list, which then contributes no keys): reports and plots list
    only metrics that have values.
    """
    history = copy.deepcopy(dict(train_history))
    flat: dict[str, list[Any]] = {}
    for metric, values in history.items():
        if all(isinstance(v, dict) for v in values):
            per_key = combine_dict_elements(flatten_dict(v) for v in values)
            for key, combined in per_key.items():
                flat[f"{metric}_{key}"] = combined
        else:
            flat[metric] = values
    return flat
