"""Turning what the user passes to fit / evaluate / predict into loaders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from tests.conftest import Unsized, make_batches
from unitrain.core.data import Loader, make_eval_loaders, make_loader


def test_iterables_of_batches_are_used_as_they_are() -> None:
    batches = make_batches(3)
    loader = make_loader(batches, "train_data", train=True)
    assert loader.batches is batches and loader.length() == 3 and not loader.expect_minibatch
    assert make_loader(Unsized(batches), "train_data", train=True).length() is None
    data_loader = DataLoader(TensorDataset(torch.ones(6, 2)), batch_size=4)
    assert make_loader(data_loader, "x", train=True).length() == 2


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            TensorDataset(torch.ones(4, 2)),
            r"got a TensorDataset \(a map-style Dataset.*DataLoader\(dataset",
        ),
        ("batches.pt", "got str, expected an iterable of batches"),
        (3, "got int, expected an iterable of batches"),
    ],
    ids=["map-style", "str", "int"],
)
def test_things_that_are_not_batches(data: object, match: str) -> None:
    with pytest.raises(ut.ConfigError, match=rf"^eval_data: {match}"):
        make_loader(data, "eval_data", train=False)


def test_set_epoch_reaches_a_distributed_style_sampler() -> None:
    class Sampler:
        epoch = -1

        def __iter__(self) -> Iterator[int]:
            return iter(range(4))

        def __len__(self) -> int:
            return 4

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

    sampler = Sampler()
    loader = DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2, sampler=sampler)
    make_loader(loader, "train_data", train=True).set_epoch(3)
    assert sampler.epoch == 3
    Loader(make_batches(1), "plain", False).set_epoch(3)  # no sampler: nothing to do


def test_eval_loaders() -> None:
    batches = make_batches(1)
    assert make_eval_loaders(None) == {}
    single = make_eval_loaders(batches)
    assert list(single) == ["val"] and single["val"].name == "eval_data"
    several = make_eval_loaders({"val": batches, "test": batches})
    assert list(several) == ["val", "test"] and several["test"].name == "eval_data['test']"
    with pytest.raises(ut.ConfigError, match=r"eval_data\['bad'\]: got int"):
        make_eval_loaders({"bad": 1})


def test_fit_accepts_a_data_loader_of_tensors() -> None:
    from tests.conftest import make_task

    x = torch.randn(8, 3)
    loader = DataLoader(TensorDataset(x, (x.sum(1) > 0).long()), batch_size=4)
    state = ut.Trainer(make_task(), max_epochs=2, device="cpu").fit(loader, eval_data=loader)
    assert state.global_step == 4 and set(state.eval_metrics["val"]) == {"loss", "accuracy"}
