"""Seeding every random number generator a training run draws from, and deterministic mode.

``seed_everything(seed)`` seeds Python's ``random``, numpy's global generator (when numpy is
installed), torch's CPU generator and every CUDA device's, and records the seed in the
environment (``UNITRAIN_GLOBAL_SEED``; the run store writes it into ``run.json``). With
``workers=True`` it also sets ``UNITRAIN_SEED_WORKERS=1``: ``Trainer.fit`` then gives every
DataLoader with worker processes and no ``worker_init_fn`` of its own :func:`seed_worker`,
which derives each worker's seeds from the loader's base seed, the worker id **and the
global rank**, so two ranks never draw the same augmentations (torch's own per-worker
seeding ignores the rank).

``use_deterministic(True)`` asks torch for deterministic kernels (an error where an operation
has none), turns cuDNN's benchmark autotuning off and sets the cuBLAS workspace variable that
deterministic matrix products on CUDA need.
"""

from __future__ import annotations

import os
import random
from typing import Any

import torch

from unitrain.errors import ConfigError

__all__ = [
    "SEED_VARIABLE",
    "WORKERS_VARIABLE",
    "seed_everything",
    "seed_loader_workers",
    "seed_worker",
    "use_deterministic",
    "workers_seeded",
]

SEED_VARIABLE = "UNITRAIN_GLOBAL_SEED"
WORKERS_VARIABLE = "UNITRAIN_SEED_WORKERS"
_MAX_SEED = 2**32 - 1


def seed_everything(seed: int, *, workers: bool = True) -> int:
    """Seed ``random``, numpy, torch (CPU and every CUDA device); returns ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ConfigError(
            f"seed_everything(seed={seed!r}): expected an int in [0, 2**32 - 1] (numpy's "
            "generator takes no larger seed)"
        )
    os.environ[SEED_VARIABLE] = str(seed)
    os.environ[WORKERS_VARIABLE] = "1" if workers else "0"
    random.seed(seed)
    _numpy_seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device, lazily where CUDA is not up yet
    return seed


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=seed_worker)``: seeds a worker from the loader's base seed,
    its id and the global rank (``RANK``), for every generator the worker may use."""
    rank = int(os.environ.get("RANK", "0"))
    base = torch.initial_seed() - worker_id  # torch gave this worker base_seed + worker_id
    sequence = _seed_sequence(base, worker_id, rank)
    torch.manual_seed(sequence[0])
    random.seed(sequence[1])
    _numpy_seed(sequence[2] % (_MAX_SEED + 1))


def workers_seeded() -> bool:
    """True after ``seed_everything(..., workers=True)`` in this process or its launcher."""
    return os.environ.get(WORKERS_VARIABLE) == "1"


def seed_loader_workers(data: Any) -> Any:
    """After ``seed_everything(..., workers=True)``: a DataLoader with worker processes and no
    ``worker_init_fn`` of its own gets :func:`seed_worker` (per-rank worker seeds), as the
    user asked for; one with its own function, or any other iterable, is left alone."""
    from torch.utils.data import DataLoader

    if (
        isinstance(data, DataLoader)
        and data.num_workers > 0
        and data.worker_init_fn is None
        and workers_seeded()
    ):
        data.worker_init_fn = seed_worker
    return data


def use_deterministic(on: bool = True) -> None:
    """Deterministic kernels (or an error naming the operation that has none), no cuDNN
    autotuning; on CUDA the cuBLAS workspace setting its deterministic mode needs."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False if on else torch.backends.cudnn.benchmark


def _seed_sequence(base: int, worker_id: int, rank: int) -> list[int]:
    """Three independent 64-bit seeds from (base seed, worker, rank), as numpy's SeedSequence
    would give them, computed with torch so numpy stays optional."""
    mixed = ((base * 1_000_003 + worker_id) * 65_537 + rank) % 2**63
    generator = torch.Generator().manual_seed(mixed)
    values = torch.randint(0, 2**62, (3,), generator=generator, dtype=torch.int64)
    return [int(v) for v in values]


def _numpy_seed(seed: int) -> Any:
    try:
        import numpy as np
    except ImportError:  # numpy is optional for seeding: nothing to seed then
        return None
    np.random.seed(seed % (_MAX_SEED + 1))
    return np
