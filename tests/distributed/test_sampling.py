"""Splitting loaders across ranks (no processes needed: rank and world size are given)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
)

from unitrain.core.data import Loader
from unitrain.distributed.sampling import ShardSampler, shard_loader
from unitrain.errors import ConfigError, UnitrainWarning

DATA = TensorDataset(torch.arange(17).float())


def indices(loader: Loader) -> list[int]:
    return [int(v) for (batch,) in loader.batches for v in batch]


def shards(data: object, train: bool, world: int = 2) -> list[Loader]:
    return [shard_loader(Loader(data, "data", False), train, r, world) for r in range(world)]  # type: ignore[arg-type]


def test_eval_split_has_no_padding_and_covers_every_sample_once() -> None:
    parts = shards(DataLoader(DATA, batch_size=4), train=False)
    seen = [indices(p) for p in parts]
    assert seen[0] == list(range(0, 17, 2)) and seen[1] == list(range(1, 17, 2))
    assert sorted(seen[0] + seen[1]) == list(range(17))  # DistributedSampler would repeat one
    assert isinstance(parts[0].batches.sampler, ShardSampler)  # type: ignore[attr-defined]


def test_a_padded_distributed_eval_sampler_is_replaced() -> None:
    sampler = DistributedSampler(DATA, num_replicas=2, rank=1, shuffle=False)
    parts = shards(DataLoader(DATA, batch_size=4, sampler=sampler), train=False)
    assert sorted(indices(parts[0]) + indices(parts[1])) == list(range(17))


def test_train_split_is_shuffled_per_epoch_and_equal_in_length() -> None:
    parts = shards(DataLoader(DATA, batch_size=4, shuffle=True), train=True)
    samplers = [p.batches.sampler for p in parts]  # type: ignore[attr-defined]
    assert all(isinstance(s, DistributedSampler) and s.shuffle for s in samplers)
    epoch0 = [indices(p) for p in parts]
    assert len(epoch0[0]) == len(epoch0[1]) == 9  # padded: every rank runs the same steps
    assert set(epoch0[0]) | set(epoch0[1]) == set(range(17))
    for part in parts:
        part.set_epoch(1)
    epoch1 = [indices(p) for p in parts]
    assert epoch1 != epoch0
    assert sorted(epoch0[0]) != list(range(0, 18, 2))  # shuffled, not strided


def test_sequential_train_split_keeps_the_order_and_batch_settings() -> None:
    loader = DataLoader(DATA, batch_size=4, drop_last=True)
    parts = shards(loader, train=True)
    assert not parts[0].batches.sampler.shuffle  # type: ignore[attr-defined]
    assert indices(parts[0]) == [0, 2, 4, 6, 8, 10, 12, 14]  # drop_last kept: 9 → 2 batches
    assert parts[0].batches.batch_size == 4  # type: ignore[attr-defined]


def test_default_batch_sampler_is_rebuilt() -> None:
    batch_sampler = BatchSampler(SequentialSampler(DATA), batch_size=3, drop_last=False)
    parts = shards(DataLoader(DATA, batch_sampler=batch_sampler), train=False)
    assert indices(parts[1]) == list(range(1, 17, 2))
    assert parts[1].batches.batch_size == 3  # type: ignore[attr-defined]


def test_user_distributed_train_sampler_is_left_alone() -> None:
    sampler = DistributedSampler(DATA, num_replicas=2, rank=0)
    loader = DataLoader(DATA, batch_size=4, sampler=sampler)
    assert shard_loader(Loader(loader, "x", False), True, 0, 2).batches is loader


class Stream(IterableDataset[torch.Tensor]):
    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(torch.arange(4).float())


class MyBatches(BatchSampler):
    pass


@pytest.mark.parametrize(
    ("loader", "says"),
    [
        (DataLoader(DATA, sampler=SubsetRandomSampler([1, 2])), "custom sampler"),
        (
            DataLoader(DATA, batch_sampler=MyBatches(SequentialSampler(DATA), 2, False)),
            "custom batch sampler",
        ),
        (DataLoader(Stream()), "IterableDataset"),
    ],
)
def test_loaders_that_cannot_be_split_are_refused_with_the_way_out(
    loader: DataLoader[object], says: str
) -> None:
    with pytest.raises(ConfigError, match=f"{says}.*shard_data=False"):
        shards(loader, train=True)


def test_unsized_iterables_are_refused() -> None:
    with pytest.raises(ConfigError, match="no length and no sampler"):
        shards(iter([1, 2, 3]), train=True)


def test_a_list_of_batches_is_split_round_robin() -> None:
    batches = [torch.tensor([float(i)]) for i in range(5)]
    evals = shards(batches, train=False)
    assert [len(p.batches) for p in evals] == [3, 2]  # type: ignore[arg-type]
    with pytest.warns(UnitrainWarning, match="last 1 are not used"):
        trains = shards(batches, train=True)
    assert [[float(b) for b in p.batches] for p in trains] == [[0.0, 2.0], [1.0, 3.0]]  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="cannot feed 2 processes"):
        shards(batches[:1], train=True)
