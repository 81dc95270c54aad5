"""A tiny GAN that learns a 1-D Gaussian (mean 3, std 0.5) from noise, with two optimizers:
the discriminator steps on its loss, then the generator on its own, through the stepped
discriminator, each batch.

    python examples/gan/train.py             # one loss per optimizer (optimizer_losses=)
    python examples/gan/train.py --manual    # the same loop written by hand (manual_step)

Prints the mean and standard deviation of 2000 generated samples.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut

MEAN, STD = 3.0, 0.5


class Gan(nn.Module):
    """Generator: noise (1) → sample (1); discriminator: sample → logit. ``forward`` computes
    either loss, so that under DDP every loss goes through the wrapped module's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.gen = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
        self.disc = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, noise: torch.Tensor, real: torch.Tensor, which: str) -> torch.Tensor:
        if which == "disc":
            fake = self.gen(noise).detach()
            return F.softplus(-self.disc(real)).mean() + F.softplus(self.disc(fake)).mean()
        return F.softplus(-self.disc(self.gen(noise))).mean()


def disc_loss(model: Any, batch: Any) -> torch.Tensor:
    return model(*batch, "disc")


def gen_loss(model: Any, batch: Any) -> torch.Tensor:
    return model(*batch, "gen")


class ManualGan(ut.Task):
    """The alternating loop written by hand: the engine steps nothing itself."""

    manual_optimization = True

    def manual_step(self, batch: Any, manual: ut.ManualOptimization) -> torch.Tensor:
        losses = []
        for index, loss_fn in enumerate((disc_loss, gen_loss)):
            with manual.toggle(index):  # only this optimizer's parameters get gradients
                loss = loss_fn(self.model, batch)
                manual.backward(loss)
            manual.step(index)
            losses.append(loss.detach())
        return torch.stack(losses).sum()  # for the loggers


def make_data(samples: int = 2048, seed: int = 0) -> DataLoader[Any]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(samples, 1, generator=g)
    real = MEAN + STD * torch.randn(samples, 1, generator=g)
    return DataLoader(TensorDataset(noise, real), batch_size=64, shuffle=True, generator=g)


def make_task(manual: bool) -> ut.Task:
    torch.manual_seed(0)
    model = Gan()
    optimizers = {
        "disc": torch.optim.Adam(model.disc.parameters(), lr=3e-3, betas=(0.5, 0.999)),
        "gen": torch.optim.Adam(model.gen.parameters(), lr=3e-3, betas=(0.5, 0.999)),
    }
    if manual:
        return ManualGan(model, optimizer=optimizers)
    losses = {"disc": disc_loss, "gen": gen_loss}
    return ut.Task(model, optimizer=optimizers, optimizer_losses=losses)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manual", action="store_true", help="optimize by hand (manual_step)")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    task = make_task(args.manual)
    ut.Trainer(task, max_epochs=args.epochs, device="cpu").fit(make_data())
    with torch.no_grad():
        samples = task.model.gen(torch.randn(2000, 1, generator=torch.Generator().manual_seed(1)))
    result = {"mean": float(samples.mean()), "std": float(samples.std())}
    mean, std = result["mean"], result["std"]
    print(f"generated: mean {mean:.3f} (target {MEAN}), std {std:.3f} (target {STD})")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
