"""A tiny GAN-like two-model setup and the hand-written alternating loops it is held to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

Batch = tuple[torch.Tensor, torch.Tensor]  # (noise, real samples)


class Gan(nn.Module):
    """A generator (noise 4 → sample 3) and a discriminator (sample 3 → logit)."""

    def __init__(self) -> None:
        super().__init__()
        self.gen = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.disc = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.gen(noise)


def make_gan(seed: int = 0) -> Gan:
    torch.manual_seed(seed)
    return Gan()


def disc_loss(model: Any, batch: Batch) -> torch.Tensor:
    noise, real = batch
    fake = model.gen(noise).detach()
    return F.softplus(-model.disc(real)).mean() + F.softplus(model.disc(fake)).mean()


def gen_loss(model: Any, batch: Batch) -> torch.Tensor:
    noise, _ = batch
    return F.softplus(-model.disc(model.gen(noise))).mean()


LOSSES: list[Callable[[Any, Batch], torch.Tensor]] = [disc_loss, gen_loss]


def make_optimizers(model: Gan) -> dict[str, torch.optim.Optimizer]:
    return {
        "disc": torch.optim.Adam(model.disc.parameters(), lr=0.02),
        "gen": torch.optim.SGD(model.gen.parameters(), lr=0.05, momentum=0.9),
    }


def make_batches(count: int = 6, size: int = 5, seed: int = 3) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, 4, generator=g), torch.randn(size, 3, generator=g) + 1.0)
        for _ in range(count)
    ]


def alternating_by_hand(
    batches: list[Batch], epochs: int = 1, max_norm: float | None = None
) -> Gan:
    """The loop GAN users write: per optimizer, zero its gradients, compute its loss after
    the previous one stepped, backward, clip, step."""
    model = make_gan()
    optimizers = list(make_optimizers(model).values())
    for _ in range(epochs):
        for batch in batches:
            for optimizer, loss_fn in zip(optimizers, LOSSES, strict=True):
                optimizer.zero_grad()
                loss_fn(model, batch).backward()
                if max_norm is not None:
                    params = [p for g in optimizer.param_groups for p in g["params"]]
                    torch.nn.utils.clip_grad_norm_(params, max_norm)
                optimizer.step()
    return model


def accumulating_by_hand(batches: list[Batch], k: int) -> Gan:
    """Accumulation over windows of ``k`` batches (the epoch's last one may be shorter):
    each optimizer's gradient is the window mean of its own loss's gradient (taken with
    ``torch.autograd.grad`` on its own parameters), and it steps at the window's end."""
    model = make_gan()
    optimizers = list(make_optimizers(model).values())
    sums: list[list[torch.Tensor] | None] = [None, None]
    for index, batch in enumerate(batches):
        start = index - index % k
        window = min(k, len(batches) - start)
        ends = index - start + 1 == window
        for o, (optimizer, loss_fn) in enumerate(zip(optimizers, LOSSES, strict=True)):
            params = [p for g in optimizer.param_groups for p in g["params"]]
            grads = torch.autograd.grad(loss_fn(model, batch) / window, params)
            held = sums[o] or [torch.zeros_like(p) for p in params]
            sums[o] = [h + g for h, g in zip(held, grads, strict=True)]
            if ends:
                for p, g in zip(params, sums[o] or [], strict=True):
                    p.grad = g
                optimizer.step()
                optimizer.zero_grad()
                sums[o] = None
    return model


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), f"{name} differs"
