"""What each rank runs in the two-optimizer DDP test (module level, so ranks find it)."""

from __future__ import annotations

from typing import Any

import torch
import torch._dynamo  # DDP imports it (seconds); forked ranks inherit it from here
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from tests.distributed._scenarios import count_allreduces
from unitrain.distributed import DDPStrategy


class RoutedGan(nn.Module):
    """A GAN whose forward computes either loss: under DDP every loss must go through the
    DDP module's forward (the one the task's ``model`` is during the step), which prepares
    the gradient reduction of the backward that follows."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gen = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.disc = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))

    def forward(self, noise: torch.Tensor, real: torch.Tensor, which: str) -> torch.Tensor:
        if which == "disc":
            fake = self.gen(noise).detach()
            return F.softplus(-self.disc(real)).mean() + F.softplus(self.disc(fake)).mean()
        return F.softplus(-self.disc(self.gen(noise))).mean()


def data(batch_size: int) -> DataLoader[Any]:
    g = torch.Generator().manual_seed(5)
    noise, real = torch.randn(32, 4, generator=g), torch.randn(32, 3, generator=g) + 1.0
    return DataLoader(TensorDataset(noise, real), batch_size=batch_size)


def make_trainer(accumulation: int, mode: str, **settings: Any) -> ut.Trainer:
    model = RoutedGan()
    optimizers = {
        "disc": torch.optim.Adam(model.disc.parameters(), lr=0.02),
        "gen": torch.optim.SGD(model.gen.parameters(), lr=0.05, momentum=0.9),
    }
    task: ut.Task
    if mode == "manual":
        task = ManualRoutedGan(model, optimizer=optimizers)
    else:
        task = ut.Task(
            model,
            optimizer=optimizers,
            optimizer_losses={
                "disc": lambda m, batch: m(*batch, "disc"),
                "gen": lambda m, batch: m(*batch, "gen"),
            },
        )
    return ut.Trainer(task, max_epochs=2, accumulation=accumulation, **settings)


class ManualRoutedGan(ut.Task):
    manual_optimization = True

    def manual_step(self, batch: Any, manual: Any) -> None:
        for index, which in enumerate(("disc", "gen")):
            with manual.toggle(index):  # the other model's parameters get no gradient
                manual.backward(self.model(*batch, which))
            manual.step(index)


def weights(trainer: ut.Trainer) -> torch.Tensor:
    assert trainer.state.model is not None
    return torch.cat([p.detach().flatten() for p in trainer.state.model.parameters()])


def two_optimizers() -> dict[str, Any]:
    """Per-optimizer and manual runs under DDP (global batch 8 = 2 ranks x 4)."""
    out: dict[str, Any] = {}
    for mode in ("per_optimizer", "manual"):
        for accumulation in (1, 2):
            trainer = make_trainer(
                accumulation, mode, strategy=DDPStrategy(find_unused_parameters=True)
            )
            calls = count_allreduces(trainer)
            trainer.fit(data(4))
            out[f"{mode}-{accumulation}"] = weights(trainer)
            out[f"{mode}-{accumulation}-allreduces"] = calls[0]
    try:
        make_trainer(1, "per_optimizer").fit(data(4))
    except ut.ConfigError as error:
        out["refused"] = str(error)
    return out
