"""Giving each rank its share of the data.

Training loaders get a :class:`~torch.utils.data.DistributedSampler` (shuffled when the
original sampler was random; every rank gets the same number of samples, so every rank runs
the same number of steps; the engine calls ``set_epoch`` every epoch). Evaluation and
prediction loaders get a :class:`ShardSampler`: rank ``r`` reads samples ``r, r+W, r+2W, ...``
with **no padding**, so the all-reduced sums and counts of a pass are exactly those of one
process (``DistributedSampler`` would repeat samples to even out the ranks, and bias the
metrics).

What is refused, with a message saying what to do: custom samplers and batch samplers (they
cannot be split without knowing what they do), iterable datasets and unsized iterables
(unitrain cannot shard a stream). Users who shard their data themselves pass
``shard_data=False`` to the strategy. A plain list of batches is split round-robin
(training: the same number of batches on every rank, the remainder dropped).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence, Sized
from typing import Any

from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from unitrain.core.data import Loader
from unitrain.errors import ConfigError, UnitrainWarning

__all__ = ["ShardSampler", "shard_loader"]

_LOADER_KEYS = (
    "num_workers",
    "collate_fn",
    "pin_memory",
    "timeout",
    "worker_init_fn",
    "multiprocessing_context",
    "generator",
    "persistent_workers",
    "pin_memory_device",
)


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s strided share of ``range(size)``, without padding or shuffling."""

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))


def shard_loader(loader: Loader, train: bool, rank: int, world_size: int, seed: int = 0) -> Loader:
    """Rank ``rank``'s share of ``loader`` (see the module docstring)."""
    batches = loader.batches
    if isinstance(batches, DataLoader):
        sharded: Any = _shard_dataloader(batches, loader.name, train, rank, world_size, seed)
    elif isinstance(batches, Sequence):
        sharded = _shard_sequence(batches, loader.name, train, rank, world_size)
    else:
        raise ConfigError(
            f"{loader.name}: a {type(batches).__name__} cannot be split across {world_size} "
            "processes (it has no length and no sampler). Pass a DataLoader over a map-style "
            "dataset, a list of batches or an unitrain.IDataset; or give each rank its own "
            "share yourself and pass strategy=DDPStrategy(shard_data=False)"
        )
    return Loader(sharded, loader.name, loader.expect_minibatch)


def _shard_dataloader(
    loader: DataLoader[Any], name: str, train: bool, rank: int, world: int, seed: int
) -> DataLoader[Any]:
    if isinstance(loader.dataset, IterableDataset):
        raise _refuse(name, "its dataset is an IterableDataset", world)
    batch_sampler = loader.batch_sampler
    if batch_sampler is not None and type(batch_sampler) is not BatchSampler:
        kind = type(batch_sampler).__name__
        raise _refuse(name, f"it has a custom batch sampler ({kind})", world)
    sampler = loader.sampler if batch_sampler is None else batch_sampler.sampler
    size = len(loader.dataset)  # type: ignore[arg-type]
    new_sampler: Sampler[int]
    if isinstance(sampler, DistributedSampler) and train:
        return loader  # the user split it already
    if isinstance(sampler, RandomSampler) and not sampler.replacement and _full(sampler, size):
        shuffle = True
    elif isinstance(sampler, SequentialSampler | DistributedSampler):
        shuffle = False
    else:
        raise _refuse(name, f"it has a custom sampler ({type(sampler).__name__})", world)
    if train:
        drop_last = bool(batch_sampler.drop_last) if batch_sampler is not None else False
        new_sampler = DistributedSampler(
            loader.dataset,
            num_replicas=world,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
    else:
        new_sampler = ShardSampler(size, rank, world)
    options = {key: getattr(loader, key) for key in _LOADER_KEYS if hasattr(loader, key)}
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    batch_size = loader.batch_size
    drop = loader.drop_last
    if batch_sampler is not None:
        batch_size, drop = batch_sampler.batch_size, batch_sampler.drop_last
    return DataLoader(
        loader.dataset, batch_size=batch_size, sampler=new_sampler, drop_last=drop, **options
    )


def _shard_sequence(
    batches: Sequence[Any], name: str, train: bool, rank: int, world: int
) -> Sequence[Any]:
    if not train:
        return batches[rank::world]
    per_rank = len(batches) // world
    if per_rank == 0:
        raise ConfigError(
            f"{name}: {len(batches)} batch(es) cannot feed {world} processes; every rank "
            "needs at least one batch per epoch"
        )
    dropped = len(batches) - per_rank * world
    if dropped and rank == 0:
        warnings.warn(
            f"{name}: {len(batches)} batches split over {world} processes; the last "
            f"{dropped} are not used, so every rank runs {per_rank} steps per epoch",
            UnitrainWarning,
            stacklevel=3,
        )
    return batches[rank : per_rank * world : world]


def _full(sampler: RandomSampler, size: int) -> bool:
    return sampler.num_samples == size and isinstance(sampler.data_source, Sized)


def _refuse(name: str, why: str, world: int) -> ConfigError:
    return ConfigError(
        f"{name}: cannot split this DataLoader across {world} processes because {why}. "
        "Make it rank-aware (e.g. a DistributedSampler, or a sampler that reads "
        "torch.distributed.get_rank()) and pass strategy=DDPStrategy(shard_data=False), "
        "or use shuffle=True/False with the default sampler"
    )
