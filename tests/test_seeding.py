"""seed_everything, seed_worker and deterministic mode: two seeded runs are bit-equal."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import unitrain as ut
from unitrain.errors import ConfigError
from unitrain.seeding import (
    SEED_VARIABLE,
    WORKERS_VARIABLE,
    seed_everything,
    seed_loader_workers,
    seed_worker,
    use_deterministic,
    workers_seeded,
)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables seeding sets, restored after each test (monkeypatch undoes them)."""
    for name in (SEED_VARIABLE, WORKERS_VARIABLE, "CUBLAS_WORKSPACE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


class NoisyDigits(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Augments each sample with noise from all three generators (as real pipelines do)."""

    def __len__(self) -> int:
        return 24

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.full((4,), float(index)) / 24
        x = x + torch.randn(4) * 0.1 + float(np.random.rand()) * 0.1 + random.random() * 0.1
        return x, torch.tensor(index % 2)


def _seeded_fit(seed: int, num_workers: int) -> list[torch.Tensor]:
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.ReLU(), nn.Linear(8, 2))
    loader = DataLoader(
        NoisyDigits(),
        batch_size=6,
        shuffle=True,
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers else None,
        multiprocessing_context="fork" if num_workers else None,
    )
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
    )
    ut.Trainer(task, max_epochs=2, device="cpu").fit(loader)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_two_seeded_runs_are_bit_equal_and_another_seed_differs(num_workers: int) -> None:
    first = _seeded_fit(7, num_workers)
    random.random(), np.random.rand(), torch.rand(3)  # whatever ran in between
    second = _seeded_fit(7, num_workers)
    other = _seeded_fit(8, num_workers)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_every_generator_is_seeded_and_the_seed_recorded() -> None:
    seed_everything(123, workers=False)
    drawn = (random.random(), float(np.random.rand()), float(torch.rand(())))
    assert os.environ[SEED_VARIABLE] == "123" and not workers_seeded()
    seed_everything(123)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == drawn
    assert os.environ[WORKERS_VARIABLE] == "1" and workers_seeded()


def test_worker_seeds_depend_on_the_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    def draws(rank: str) -> tuple[Any, ...]:
        monkeypatch.setenv("RANK", rank)
        torch.manual_seed(1000 + 1)  # what torch gives worker 1 of a loader with base 1000
        seed_worker(1)
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    assert draws("0") == draws("0")
    assert draws("0") != draws("1")


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seeds_are_refused(seed: Any) -> None:
    with pytest.raises(ConfigError, match=r"expected an int in \[0, 2\*\*32 - 1\]"):
        seed_everything(seed)


def test_deterministic_mode_switches_torch_and_back() -> None:
    try:
        use_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
    finally:
        use_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_workers_true_gives_worker_loaders_seed_worker_and_keeps_the_users_own() -> None:
    def own(worker_id: int) -> None: ...

    def loaders() -> tuple[DataLoader[Any], DataLoader[Any], DataLoader[Any]]:
        return (
            DataLoader(NoisyDigits(), batch_size=6, num_workers=2),
            DataLoader(NoisyDigits(), batch_size=6, num_workers=2, worker_init_fn=own),
            DataLoader(NoisyDigits(), batch_size=6),
        )

    seed_everything(3, workers=False)
    assert [seed_loader_workers(d).worker_init_fn for d in loaders()] == [
        None,
        own,
        None,
    ]
    seed_everything(3, workers=True)
    assert [seed_loader_workers(d).worker_init_fn for d in loaders()] == [
        seed_worker,
        own,
        None,
    ]
