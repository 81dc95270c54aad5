"""How the model is spread over the processes: DDP (the default) or FSDP2.

A strategy is a small settings object with two duties: ``wrap`` the model once, before the
optimizers are made, and give a ``no_sync`` context for the micro-steps of an accumulation
window that do not end it (gradients are then reduced once per window, not per micro-step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from unitrain.errors import ConfigError

__all__ = ["DDPStrategy", "FSDPStrategy", "Strategy", "make_strategy"]


@dataclass(frozen=True)
class DDPStrategy:
    """DistributedDataParallel: every rank holds the whole model; gradients are all-reduced.

    ``static_graph`` (the same parameters are used every step; lets DDP skip work) and
    ``find_unused_parameters`` (some parameters get no gradient in some steps) are passed to
    DDP, as is everything in ``options``. ``shard_data=False`` leaves the loaders as given (for
    data you split per rank yourself); ``seed`` seeds the shuffling of the training sampler;
    ``start_method`` is how ``devices="cpu:2"`` starts its processes ("spawn", or "fork" on
    the CPU: faster, nothing is pickled); ``agree_every``: the ranks agree on stop requests
    every this many optimizer steps (one tiny CPU all-reduce each time; a stop asked in
    between waits for the next agreement).
    """

    static_graph: bool = False
    find_unused_parameters: bool = False
    shard_data: bool = True
    seed: int = 0
    start_method: str = "spawn"
    agree_every: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    name = "ddp"

    def __post_init__(self) -> None:
        _check_settings(self)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The DDP module that training forwards go through; ``model`` stays the raw one."""
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError("DDPStrategy: the model has no trainable parameters to synchronise")
        return DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            static_graph=self.static_graph,
            find_unused_parameters=self.find_unused_parameters,
            **self.options,
        )

    @contextlib.contextmanager
    def no_sync(self, wrapped: nn.Module) -> Iterator[None]:
        """Skip the gradient all-reduce for the micro-steps inside the context."""
        assert isinstance(wrapped, DistributedDataParallel)
        with wrapped.no_sync():
            yield

    def begin_eval(self, wrapped: nn.Module) -> None:
        """Nothing to do: evaluation runs the raw model, with no collective per batch."""

    def end_eval(self, wrapped: nn.Module) -> None:
        """Nothing to do."""


@dataclass(frozen=True)
class FSDPStrategy:
    """FSDP2 (``torch.distributed.fsdp.fully_shard``): parameters, gradients and optimizer
    state are sharded across ranks.

    ``shard`` picks the submodules sharded as units of their own (each one's parameters are
    gathered only around its forward and backward): a tuple of module classes, or a function
    ``module -> bool``; by default every direct child that has parameters. The root module is
    always sharded. ``reshard_after_forward`` and ``options`` (e.g. ``mp_policy``) go to
    ``fully_shard``. Checkpoints: use :func:`unitrain.distributed.save_sharded` /
    :func:`~unitrain.distributed.load_sharded` (``torch.distributed.checkpoint``).
    """

    shard: tuple[type[nn.Module], ...] | Callable[[nn.Module], bool] | None = None
    reshard_after_forward: bool = True
    shard_data: bool = True
    seed: int = 0
    start_method: str = "spawn"
    agree_every: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    name = "fsdp"

    def __post_init__(self) -> None:
        _check_settings(self)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """Shard ``model`` in place (its parameters become DTensors) and return it."""
        from torch.distributed.fsdp import fully_shard

        model.to(device)
        for unit in self._units(model):
            fully_shard(unit, reshard_after_forward=self.reshard_after_forward, **self.options)
        fully_shard(model, reshard_after_forward=self.reshard_after_forward, **self.options)
        return model

    @contextlib.contextmanager
    def no_sync(self, wrapped: nn.Module) -> Iterator[None]:
        """Keep unsharded gradients (no reduce-scatter) until the window's last backward."""
        wrapped.set_requires_gradient_sync(False)  # type: ignore[operator]
        try:
            yield
        finally:
            wrapped.set_requires_gradient_sync(True)  # type: ignore[operator]

    def begin_eval(self, wrapped: nn.Module) -> None:
        """Gather the full parameters once for the whole pass (every rank, together).

        Ranks may see different numbers of eval batches (the eval data is split without
        padding, so metrics are exact); with the parameters kept whole, a forward needs no
        collective, so a rank with one batch more never waits for the others.
        """
        wrapped.set_reshard_after_forward(False)  # type: ignore[operator]
        wrapped.unshard()  # type: ignore[operator]

    def end_eval(self, wrapped: nn.Module) -> None:
        """Shard the parameters again (local; no collective)."""
        wrapped.reshard()  # type: ignore[operator]
        wrapped.set_reshard_after_forward(self.reshard_after_forward)  # type: ignore[operator]

    def _units(self, model: nn.Module) -> list[nn.Module]:
        if self.shard is None:
            return [m for m in model.children() if any(True for _ in m.parameters())]
        test = self.shard
        if isinstance(test, tuple):
            kinds = test
            return [m for m in model.modules() if m is not model and isinstance(m, kinds)]
        return [m for m in model.modules() if m is not model and test(m)]


Strategy = DDPStrategy | FSDPStrategy


def _check_settings(strategy: DDPStrategy | FSDPStrategy) -> None:
    kind = type(strategy).__name__
    if strategy.start_method not in ("spawn", "fork", "forkserver"):
        raise ConfigError(f"{kind}(start_method={strategy.start_method!r}): 'spawn' or 'fork'")
    if not isinstance(strategy.agree_every, int) or strategy.agree_every < 1:
        raise ConfigError(f"{kind}(agree_every={strategy.agree_every!r}): an int >= 1")


def make_strategy(strategy: str | Strategy | None) -> Strategy:
    """``None`` / ``"ddp"`` → :class:`DDPStrategy`, ``"fsdp"`` → :class:`FSDPStrategy`."""
    if strategy is None or strategy == "ddp":
        return DDPStrategy()
    if strategy == "fsdp":
        return FSDPStrategy()
    if isinstance(strategy, DDPStrategy | FSDPStrategy):
        return strategy
    raise ConfigError(
        f"strategy={strategy!r}: expected 'ddp', 'fsdp', a DDPStrategy(...) or an "
        "FSDPStrategy(...) from unitrain.distributed"
    )
