"""A tiny task and tiny data: enough to run every hook of a fit in milliseconds."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.core.metrics import accuracy
from unitrain.tasks import Task
from unitrain.tasks.compiling import CompileOption

__all__ = ["tiny_batches", "tiny_data", "tiny_task"]


def tiny_batches(
    n: int = 32, batch_size: int = 8, features: int = 4, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` samples of a linearly separable 2-class problem, as a list of batches."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, features, generator=generator)
    targets = (inputs.sum(dim=1) > 0).long()
    return [
        (inputs[i : i + batch_size], targets[i : i + batch_size]) for i in range(0, n, batch_size)
    ]


def tiny_data(**options: Any) -> dict[str, Any]:
    """Train and eval batches in the shape a run config's ``data`` factory returns."""
    batches = tiny_batches(**options)
    return {"train": batches, "eval": {"val": batches[: max(1, len(batches) // 2)]}}


def tiny_task(
    features: int = 4,
    hidden: int = 8,
    lr: float = 0.1,
    seed: int = 0,
    compile: CompileOption = False,
) -> Task:
    """A two-layer classifier with cross-entropy, accuracy and SGD (seeds torch's global
    RNG with ``seed``, so two calls give the same initial weights); ``compile``: see
    :class:`~unitrain.Task`."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    return Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": accuracy},
        optimizer=lambda params: torch.optim.SGD(params, lr=lr),
        compile=compile,
    )
