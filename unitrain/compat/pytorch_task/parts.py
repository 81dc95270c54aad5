"""Small pieces of the engine binding: the training data as ``epoch()`` sees it, the
one-sample prediction batch, and how step values become tensors for plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from unitrain.errors import StateError

__all__ = ["EngineData", "One", "batch_size", "overrides", "tensors"]


class EngineData:
    """The training data as ``epoch(dataset)`` sees it: sized, but the engine iterates it."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)

    def __iter__(self) -> Any:
        raise StateError(
            "an overridden PytorchTask.epoch iterates the dataset itself; on unitrain the "
            "engine runs each epoch's iterations (with every plugin's events around them) "
            "before epoch() is called: put per-sample code in iteration() / backward() and "
            "per-epoch code around super().epoch(dataset)"
        )


class One(tuple[Any, ...]):
    """One raw input for a prediction pass (the engine's batch checks see a 1-tuple)."""


def overrides(cls: type, name: str) -> bool:
    """True when a subclass (not the seed's mixins) defines ``name``."""
    from unitrain.compat.pytorch_task import task as seed

    defined = getattr(cls, name, None)
    return defined is not None and all(
        defined is not getattr(base, name, None) for base in seed.SEED_CLASSES
    )


def tensors(values: Any) -> dict[str, torch.Tensor]:
    if not isinstance(values, Mapping):
        return {}
    found: dict[str, torch.Tensor] = {}
    for name, value in values.items():
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            found[str(name)] = value.detach()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[str(name)] = torch.tensor(float(value))
    return found


def batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() > 0 else 1
    if isinstance(batch, tuple | list) and batch:
        return batch_size(batch[0])
    if isinstance(batch, Mapping) and batch:
        return batch_size(next(iter(batch.values())))
    return 1
