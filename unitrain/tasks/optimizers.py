"""A task's optimizers as given to ``Task(optimizer=...)``, and how each one gets its loss.

``optimizer=`` takes one optimizer (or a function of the parameters that makes one), a
sequence of optimizers, or a mapping ``{name: optimizer}`` (the names label the losses).
``optimizer_losses={name or index: fn}`` gives each optimizer its own loss, ``fn(model,
batch) -> Tensor``, computed in turn after the optimizers before it stepped (the
``"per_optimizer"`` step of :mod:`unitrain.core.multi_step`); ``manual_optimization=True``
hands the optimization to the task's ``manual_step``. The checks here run when the task is
made, or, for optimizers a plugin makes, when the fit starts: before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from unitrain.core.result import StepResult
from unitrain.core.state import Optimization
from unitrain.errors import ConfigError, StageError

__all__ = [
    "OptimizerLoss",
    "OptimizerSpec",
    "as_manual_result",
    "as_optimizer_result",
    "check_loss_keys",
    "choose_optimization",
    "optimizer_names",
    "optimizers_given",
]

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
OptimizerSpec = (
    torch.optim.Optimizer
    | OptimizerFactory
    | Sequence[torch.optim.Optimizer]
    | Mapping[str, torch.optim.Optimizer]
)
OptimizerLoss = Callable[[torch.nn.Module, Any], torch.Tensor]


def optimizer_names(optimizer: object) -> tuple[str, ...] | None:
    """The names of ``Task(optimizer={name: ...})``, checked; ``None`` for other forms."""
    if isinstance(optimizer, Mapping):
        bad = [n for n, o in optimizer.items() if not isinstance(o, torch.optim.Optimizer)]
        if not optimizer or bad or not all(isinstance(n, str) for n in optimizer):
            raise ConfigError(
                "Task(optimizer={name: optimizer}): expected a non-empty mapping of string "
                "names to torch optimizers (each made on its own parameters, e.g. "
                "{'disc': Adam(model.disc.parameters()), 'gen': Adam(model.gen.parameters())})"
                + (
                    f"; optimizer[{bad[0]!r}] is {type(optimizer[bad[0]]).__name__}, not an "
                    "optimizer"
                    if bad
                    else ""
                )
            )
        return tuple(optimizer)
    if isinstance(optimizer, Sequence):
        if not optimizer or not all(isinstance(o, torch.optim.Optimizer) for o in optimizer):
            raise ConfigError(
                "Task(optimizer=[...]): expected a non-empty sequence of torch optimizers"
            )
    return None


def optimizers_given(
    optimizer: OptimizerSpec | None, model: torch.nn.Module
) -> torch.optim.Optimizer | tuple[torch.optim.Optimizer, ...] | None:
    """What ``make_optimizer`` returns for ``Task(optimizer=...)``."""
    if optimizer is None or isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, Mapping):
        return tuple(optimizer.values())
    if isinstance(optimizer, Sequence):
        return tuple(optimizer)
    return optimizer(model.parameters())


def check_loss_keys(
    keys: Iterable[str | int], names: tuple[str, ...] | None, count: int | None
) -> None:
    """Every optimizer has exactly one loss in ``optimizer_losses``: no unknown key, none
    missing. ``names``: the optimizers' names, if named; ``count``: how many there are,
    when known (at fit start for optimizers a plugin makes)."""
    keys = list(keys)
    missing: list[str | int]
    if names is not None:
        unknown = [k for k in keys if k not in names]
        missing = [n for n in names if n not in keys]
        expected = f"the optimizers' names {list(names)}"
    else:
        unknown = [k for k in keys if not isinstance(k, int) or isinstance(k, bool)]
        if count is not None:
            unknown += [k for k in keys if k not in unknown and not 0 <= k < count]  # type: ignore[operator]
        missing = [] if count is None else [i for i in range(count) if i not in keys]
        expected = (
            "optimizer indices (ints)"
            if count is None
            else f"the optimizer indices 0..{count - 1} ({count} optimizer(s))"
        )
    if unknown:
        raise ConfigError(
            f"Task(optimizer_losses=...): {unknown[0]!r} names no optimizer; the keys must be "
            f"{expected}. Rename the key, or add the optimizer to optimizer="
        )
    if missing:
        raise ConfigError(
            f"Task(optimizer_losses=...): no loss for optimizer {missing[0]!r}; every "
            f"optimizer steps on its own loss, so give one for each of {expected} (or leave "
            "out the optimizer that should not step)"
        )


def choose_optimization(manual: bool, per_optimizer: bool, has_losses: bool) -> Optimization:
    """``"manual"``, ``"per_optimizer"`` or ``"automatic"``; refuses a mix."""
    if manual and per_optimizer:
        raise ConfigError(
            "Task: manual_optimization=True and per-optimizer losses (optimizer_losses= or "
            "compute_optimizer_step) exclude each other; in manual mode manual_step "
            "computes and backpropagates every loss itself"
        )
    if (manual or per_optimizer) and has_losses:
        raise ConfigError(
            "Task: loss= / losses= are the one loss of automatic optimization; with "
            f"{'manual_optimization=True' if manual else 'optimizer_losses='} the training "
            "losses come from "
            f"{'manual_step' if manual else 'each optimizer_losses entry'}. Move them there "
            "(evaluation still uses metrics=)"
        )
    return "manual" if manual else "per_optimizer" if per_optimizer else "automatic"


def as_optimizer_result(value: object, name: str | int, size: int) -> StepResult:
    """What ``compute_optimizer_step`` gave, as a StepResult with the loss named."""
    if isinstance(value, StepResult):
        return value
    if isinstance(value, torch.Tensor):
        return StepResult(value, {str(name): (1.0, value)}, batch_size=size)
    raise StageError(
        f"the loss of optimizer {name!r} is {type(value).__name__}; expected a tensor (or a "
        "StepResult) from its optimizer_losses entry / compute_optimizer_step"
    )


def as_manual_result(value: object, size: int) -> StepResult:
    """What ``manual_step`` returned, as a StepResult (``None``: nothing to report)."""
    if value is None:
        return StepResult(batch_size=size)
    if isinstance(value, StepResult):
        return value
    if isinstance(value, torch.Tensor):
        return StepResult(value, batch_size=size)
    raise StageError(
        f"manual_step returned {type(value).__name__}; expected None, a loss tensor (for "
        "logging) or a StepResult"
    )
