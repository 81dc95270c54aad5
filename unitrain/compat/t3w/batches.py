"""t3w's epoch of batches, with a data order that a saved module continues exactly.

``EpochBatches`` hands the engine a fixed count of batches per epoch from one iterator that
persists across epochs and restarts when the loader is exhausted (t3w's ``iter_per_epoch``).

The default shuffling is :class:`ShuffledPasses`: pass ``k`` over the dataset (one run of the
loader) is ``randperm`` from a generator seeded with ``(seed, k)``, and the loader's own
generator (which only seeds workers) is reseeded per pass the same way. So the order depends
only on the seed and on how many batches were drawn before, which a checkpoint holds
(``TopLevelModule.data_seed`` and ``training_progress.micro_step``): a module saved after
epoch 2 and loaded in a new process continues with epoch 3's order, mid-pass included. t3w
reseeded its generator from ``torch.initial_seed()`` in each loop, so a resumed loop replayed
the first epoch's order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from unitrain.compat.t3w.contract import seed_numpy

__all__ = ["EpochBatches", "ShuffledPasses", "pass_seed", "seed_worker"]

_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: pass k's seed is seed + k * _MIX mod 2**63


def pass_seed(seed: int, pass_index: int) -> int:
    """The generator seed of pass ``pass_index`` of a loop seeded with ``seed``."""
    return (seed + pass_index * _MIX) % 2**63


class ShuffledPasses(Sampler[int]):
    """A random permutation per pass, fixed by ``(seed, pass_index)``; ``skip`` drops the
    first samples of the next pass only (a resumed pass starts where the saved one stood)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.pass_index, self.skip = 0, 0

    def start(self, pass_index: int, skip: int = 0) -> None:
        """Make the next ``iter`` pass ``pass_index``, without its first ``skip`` samples."""
        self.pass_index, self.skip = pass_index, skip

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(pass_seed(self.seed, self.pass_index))
        order = torch.randperm(self.size, generator=generator).tolist()[self.skip :]
        self.skip = 0
        return iter(order)

    def __len__(self) -> int:
        return self.size


class EpochBatches:
    """``per_epoch`` batches per epoch (default ``len(loader)``) from one iterator that
    persists across epochs and restarts when exhausted; the first iterator starts at batch
    ``drawn`` of the data order (``drawn // len(loader)`` passes done)."""

    def __init__(
        self,
        loader: DataLoader[Any],
        per_epoch: int | None,
        *,
        seed: int = 0,
        drawn: int = 0,
    ) -> None:
        self.loader = loader
        self.per_epoch = per_epoch
        self.seed = seed
        self._iterator: Iterator[Any] | None = None
        self._pass = drawn // max(len(loader), 1)
        self._skip_batches = drawn % max(len(loader), 1)

    def __len__(self) -> int:
        return self.per_epoch or len(self.loader)

    def _restart(self) -> Iterator[Any]:
        loader = self.loader
        sampler = loader.sampler if loader.batch_sampler is None else None
        if loader.batch_sampler is not None and hasattr(loader.batch_sampler, "sampler"):
            sampler = loader.batch_sampler.sampler
        if isinstance(sampler, ShuffledPasses):
            batch_size = loader.batch_size or 1
            sampler.start(self._pass, self._skip_batches * batch_size)
        if loader.generator is not None:  # it only seeds the workers of this pass
            loader.generator.manual_seed(pass_seed(self.seed + 1, self._pass))
        self._skip_batches = 0
        self._pass += 1
        return iter(loader)

    def __iter__(self) -> Iterator[Any]:
        # Always through the persistent iterator: a batch sampler may be endless (t3w's
        # HarderBatchSampler), and a resumed epoch must not restart the loader mid-way.
        for _ in range(len(self)):
            if self._iterator is None:
                self._iterator = self._restart()
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = self._restart()
                batch = next(self._iterator)
            yield batch


def seed_worker(worker_id: int) -> None:
    """Seed a loader worker's numpy and ``random`` from torch's seed for that worker."""
    seed = torch.initial_seed() % 2**32
    seed_numpy(seed)
    random.seed(seed)
