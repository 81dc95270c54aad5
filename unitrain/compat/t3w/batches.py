"""t3w's epoch of batches: a fixed count per epoch from an iterator that persists."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from unitrain.compat.t3w.contract import seed_numpy

__all__ = ["EpochBatches", "seed_worker"]


class EpochBatches:
    """``per_epoch`` batches per epoch (default ``len(loader)``) from one iterator that
    persists across epochs and restarts when exhausted (t3w's ``iter_per_epoch``)."""

    def __init__(self, loader: DataLoader[Any], per_epoch: int | None) -> None:
        self.loader = loader
        self.per_epoch = per_epoch
        self._iterator: Iterator[Any] | None = None

    def __len__(self) -> int:
        return self.per_epoch or len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        # Always through the persistent iterator: a batch sampler may be endless (t3w's
        # HarderBatchSampler), and a resumed epoch must not restart the loader mid-way.
        for _ in range(len(self)):
            if self._iterator is None:
                self._iterator = iter(self.loader)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = iter(self.loader)
                batch = next(self._iterator)
            yield batch


def seed_worker(worker_id: int) -> None:
    """Seed a loader worker's numpy and ``random`` from torch's seed for that worker."""
    seed = torch.initial_seed() % 2**32
    seed_numpy(seed)
    random.seed(seed)
