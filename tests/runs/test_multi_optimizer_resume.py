"""A two-optimizer run (per-optimizer losses, or manual optimization) crashed at any step and
resumed from its checkpoint equals the uninterrupted run bit for bit: both models, both
optimizers' states and learning rates, the counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from tests.core.gan import disc_loss, gen_loss, make_gan, make_optimizers
from tests.core.test_multi_step import ManualGan
from tests.runs.trainkit import Crash, CrashAt
from unitrain.core.schedule import ScheduledLR
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore

BATCHES = 5  # per epoch; 2 epochs


def make_data() -> DataLoader[Any]:
    g = torch.Generator().manual_seed(5)
    noise, real = torch.randn(20, 4, generator=g), torch.randn(20, 3, generator=g) + 1.0
    shuffle = torch.Generator().manual_seed(9)
    return DataLoader(TensorDataset(noise, real), batch_size=4, shuffle=True, generator=shuffle)


def make_trainer(mode: str, plugins: list[object], accumulation: int, seed: int) -> ut.Trainer:
    model = make_gan(seed)

    def scheduler(optimizer: torch.optim.Optimizer) -> ScheduledLR:
        return ScheduledLR(torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.7), "step")

    task: ut.Task
    if mode == "manual":
        task = ManualGan(model, optimizer=make_optimizers(model), scheduler=scheduler)
    else:
        task = ut.Task(
            model,
            optimizer=make_optimizers(model),
            optimizer_losses={"disc": disc_loss, "gen": gen_loss},
            scheduler=scheduler,
        )
    return ut.Trainer(task, plugins=plugins, max_epochs=2, accumulation=accumulation, device="cpu")


def snapshot(trainer: ut.Trainer) -> dict[str, Any]:
    state = trainer.state
    assert state.model is not None
    return {
        "model": {k: v.clone() for k, v in state.model.state_dict().items()},
        "optimizers": [o.state_dict() for o in state.optimizers],
        "counters": (state.epoch, state.global_step, state.micro_step),
    }


def assert_equal(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_equal(x, y, f"{where}[{index}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize(
    ("mode", "accumulation", "crash_at"),
    [("per_optimizer", 1, 3), ("per_optimizer", 2, 7), ("manual", 1, 6), ("manual", 2, 3)],
)
def test_a_two_optimizer_run_resumes_bit_exact(
    tmp_path: Path, mode: str, accumulation: int, crash_at: int
) -> None:
    torch.manual_seed(1234)
    straight = make_trainer(mode, [], accumulation, seed=0)
    straight.fit(make_data())
    crashing = make_trainer(
        mode,
        [RunStore(tmp_path), Checkpoint(every_n_steps=1), CrashAt(crash_at)],
        accumulation,
        seed=0,
    )
    torch.manual_seed(1234)
    with pytest.raises(Crash):
        crashing.fit(make_data())
    assert crashing.state.micro_step == crash_at
    resumed = make_trainer(
        mode, [RunStore(tmp_path), Checkpoint(every_n_steps=1)], accumulation, seed=99
    )
    torch.manual_seed(4321)
    resumed.fit(make_data(), resume="latest")
    assert_equal(snapshot(straight), snapshot(resumed))
    expected_steps = 2 * (BATCHES if accumulation == 1 else -(-BATCHES // accumulation))
    assert straight.state.global_step == expected_steps
    lrs = [o.param_groups[0]["lr"] for o in resumed.state.optimizers]
    assert lrs == [o.param_groups[0]["lr"] for o in straight.state.optimizers]
