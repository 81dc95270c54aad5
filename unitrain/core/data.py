"""Turning what the user passes to ``fit`` / ``evaluate`` / ``predict`` into loaders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from unitrain.core.contract import IDataset
from unitrain.errors import ConfigError

__all__ = ["Loader", "make_eval_loaders", "make_loader"]


class Loader:
    """An iterable of batches plus what the engine knows about it."""

    __slots__ = ("batches", "expect_minibatch", "name")

    def __init__(self, batches: Iterable[Any], name: str, expect_minibatch: bool) -> None:
        self.batches = batches
        self.name = name
        self.expect_minibatch = expect_minibatch

    def length(self) -> int | None:
        """Number of batches, when the iterable has a length."""
        try:
            return len(self.batches)  # type: ignore[arg-type]
        except TypeError:
            return None

    def set_epoch(self, epoch: int) -> None:
        """Tell a distributed sampler which epoch it is, so shuffling differs per epoch."""
        set_epoch = getattr(getattr(self.batches, "sampler", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def make_loader(data: object, name: str, train: bool, seed: int = 0) -> Loader:
    """Accept an iterable of batches, or an :class:`IDataset` (batched by its datum type)."""
    if isinstance(data, IDataset):
        datum = data.datum_type
        generator = torch.Generator().manual_seed(seed)
        loader: DataLoader[Any] = DataLoader(
            data,
            batch_size=datum.train_batch_size if train else datum.val_batch_size,
            shuffle=train,
            num_workers=datum.num_workers,
            collate_fn=datum.collate,
            generator=generator if train else None,
        )
        return Loader(loader, name, expect_minibatch=True)
    if isinstance(data, Dataset) and not isinstance(data, Iterable):
        raise ConfigError(
            f"{name}: got a {type(data).__name__} (a map-style Dataset of samples), expected "
            "an iterable of batches; wrap it: DataLoader(dataset, batch_size=..., shuffle=...) "
            "or make it an unitrain.IDataset whose datum_type sets the batch size"
        )
    if isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise ConfigError(
            f"{name}: got {type(data).__name__}, expected an iterable of batches "
            "(a DataLoader, a list of batches) or an unitrain.IDataset"
        )
    return Loader(data, name, expect_minibatch=False)


def make_eval_loaders(data: object, default_split: str = "val") -> dict[str, Loader]:
    """``None`` → no splits; a mapping → one loader per split; anything else → one split."""
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return {
            str(split): make_loader(d, f"eval_data[{split!r}]", train=False)
            for split, d in data.items()
        }
    return {default_split: make_loader(data, "eval_data", train=False)}
