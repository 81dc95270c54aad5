"""``aitoolbox.torchtrain.data.dataset``: datasets over in-memory rows and lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from unitrain.errors import ConfigError

__all__ = ["BasicDataset", "ListDataset"]


class BasicDataset(Dataset[Any]):
    """Each row (first dimension) of ``data`` is one example, returned as it is."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> Any:
        return self.data[idx]


class ListDataset(Dataset[tuple[Any, ...]]):
    """Several equally long lists; example ``i`` is the tuple of their ``i``-th items
    (``TensorDataset`` for lists)."""

    def __init__(self, *data_lists: Sequence[Any]) -> None:
        if not data_lists:
            raise ConfigError("ListDataset(): give at least one list")
        lengths = [len(data) for data in data_lists]
        if len(set(lengths)) != 1:
            raise ConfigError(
                f"ListDataset: the lists have different lengths {lengths}; every list must "
                "hold one entry per example"
            )
        self.data_lists = data_lists

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(data[index] for data in self.data_lists)

    def __len__(self) -> int:
        return len(self.data_lists[0])
