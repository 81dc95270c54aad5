"""The tiny job of ``startup.py``: one model, one batch, for the plain script and the config.

Importing this module costs ``import torch`` and nothing else, so the plain script and
``unitrain fit`` pay the same for it. ``make_task`` / ``make_data`` are what the benchmark's
run config names; ``make_model`` / ``make_batch`` are shared with the plain script, so both
build the same model from the same seed and take one AdamW step on the same batch.

The end of the first step is printed as ``FIRST_STEP <time.monotonic()> <time.process_time()>``
by the plain script after its step and by the task's ``on_train_step_end`` under ``unitrain
fit``: the first is a clock shared by every process of the machine, the second the CPU
time the process has used so far (which a busy machine disturbs less than wall time).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

__all__ = ["STAMP", "make_batch", "make_data", "make_model", "make_task", "stamp"]

STAMP = "FIRST_STEP"
FEATURES, CLASSES, BATCH = 64, 10, 64


def stamp() -> None:
    """Print when the first step ended (flushed: the process may be timed to its exit)."""
    print(f"{STAMP} {time.monotonic():.6f} {time.process_time():.6f}", flush=True)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, CLASSES))


def make_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(BATCH, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (BATCH,), generator=generator)


def make_data(batches: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The training data of the config: ``batches`` pre-made batches (a list is a loader)."""
    return [make_batch(seed) for seed in range(batches)]


def make_task(lr: float = 3e-3) -> Any:
    """A unitrain task of the same model, loss and optimizer, stamping its first step."""
    # unitrain imported here, not above: the plain script imports this module too
    import unitrain as ut
    from unitrain.hooks.markers import hookimpl

    class StampingTask(ut.Task):
        stamped = False

        @hookimpl
        def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
            if not self.stamped:
                self.stamped = True
                stamp()

    return StampingTask(
        make_model(),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda params: torch.optim.AdamW(params, lr=lr),
    )
