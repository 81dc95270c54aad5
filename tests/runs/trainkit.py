"""A tiny, fully seeded training setup shared by the run/checkpoint tests and their scripts.

Shuffling (global-RNG ``RandomSampler`` or a loader generator), dropout, Adam, a step-wise
scheduler and accumulation are all on, so any state a resume forgets shows up as a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.core.schedule import ScheduledLR

SAMPLES, BATCH = 24, 4  # 6 batches per epoch


class Crash(Exception):
    """Raised by :class:`CrashAt` to simulate a failure."""


class CrashAt:
    """Raises :class:`Crash` when batch ``micro_step`` is about to start (after any save)."""

    name = "crash"

    def __init__(self, micro_step: int) -> None:
        self.micro_step = micro_step

    def on_train_step_start(self, state: ut.State) -> None:
        if state.micro_step == self.micro_step:
            raise Crash(f"injected crash before micro step {self.micro_step}")


def make_data(generator: bool = False) -> DataLoader[Any]:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(SAMPLES, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    loader_generator = torch.Generator().manual_seed(11) if generator else None
    return DataLoader(
        TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=loader_generator
    )


def make_trainer(
    plugins: Iterable[object] = (),
    *,
    accumulation: int = 1,
    max_epochs: int = 3,
    init_seed: int = 0,
    eval_every_steps: int | None = None,
    max_steps: int | None = None,
) -> ut.Trainer:
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 2))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
        scheduler=lambda o: ScheduledLR(
            torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.7), interval="step"
        ),
    )
    torch.manual_seed(1234)  # the run's RNG starts here, whatever the init seed
    return ut.Trainer(
        task,
        plugins=list(plugins),
        max_epochs=max_epochs,
        accumulation=accumulation,
        eval_every_steps=eval_every_steps,
        max_steps=max_steps,
        device="cpu",
    )


def snapshot(trainer: ut.Trainer) -> dict[str, Any]:
    """Weights and optimizer state, for torch.equal comparisons."""
    state = trainer.state
    assert state.model is not None
    return {
        "model": {k: v.clone() for k, v in state.model.state_dict().items()},
        "optimizer": state.optimizers[0].state_dict(),
        "counters": (state.epoch, state.global_step, state.micro_step),
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["counters"] == b["counters"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), f"parameter {key} differs"
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for index, entry in sa.items():
        for key, value in entry.items():
            other = sb[index][key]
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, other), f"optimizer state {index}.{key} differs"
            else:
                assert value == other
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
