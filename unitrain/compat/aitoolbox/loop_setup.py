"""Checks and settings of a compat ``TrainLoop``, made before any work is done."""

from __future__ import annotations

import math
from typing import Any

import torch

from unitrain.compat.aitoolbox.multi_loss import MultiOptimizer
from unitrain.errors import ConfigError

__all__ = ["check_model", "check_optimizer", "device_setting", "fit_length"]

_MODEL_METHODS = ("get_loss", "get_loss_eval", "get_predictions")


def check_model(model: object) -> None:
    """A ``TTModel`` / ``ModelWrap``: an ``nn.Module`` with the three ``get_*`` methods."""
    missing = [name for name in _MODEL_METHODS if not callable(getattr(model, name, None))]
    if not isinstance(model, torch.nn.Module) or missing:
        raise ConfigError(
            f"TrainLoop(model=...): expected a TTModel or ModelWrap (an nn.Module with "
            f"get_loss, get_loss_eval and get_predictions), got {type(model).__name__}"
            + (f" without {', '.join(missing)}" if missing else "")
            + "; subclass unitrain.compat.aitoolbox.TTModel or wrap a plain module with "
            "ModelWrap(model, feed_definition)"
        )


def check_optimizer(optimizer: object) -> None:
    """``None`` (a loop that only predicts), a torch optimizer, a ``MultiOptimizer``, or any
    object with callable ``step`` and ``zero_grad`` (aitoolbox's duck typing)."""
    if optimizer is None or isinstance(optimizer, torch.optim.Optimizer | MultiOptimizer):
        return
    missing = [m for m in ("step", "zero_grad") if not callable(getattr(optimizer, m, None))]
    if missing:
        raise ConfigError(
            f"TrainLoop(optimizer=...): {type(optimizer).__name__} has no callable "
            f"{' and '.join(missing)}; give a torch optimizer, a MultiOptimizer, an object "
            "with step() and zero_grad() (and state_dict() to save checkpoints), or None "
            "for a loop that only predicts"
        )


def device_setting(device: str | torch.device | None, cuda_device_idx: int | None) -> str:
    """The torch device string: ``device`` if given, else CUDA (``cuda_device_idx``) or CPU."""
    if device is not None:
        return str(device)
    if torch.cuda.is_available():
        return "cuda" if cuda_device_idx is None else f"cuda:{cuda_device_idx}"
    return "cpu"


def fit_length(num_epochs: int, num_iterations: int, accumulation: int, train_loader: Any) -> int:
    """The number of epochs a fit runs (``num_iterations`` rounds up to whole epochs; the
    last one is cut short by the loader view)."""
    if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
        raise ConfigError(f"TrainLoop.fit(grad_accumulation={accumulation!r}): must be an int >= 1")
    if (num_epochs > 0) == (num_iterations > 0):
        raise ConfigError(
            f"TrainLoop.fit(num_epochs={num_epochs}, num_iterations={num_iterations}): give "
            "exactly one of them, > 0"
        )
    if num_iterations > 0:
        return math.ceil(num_iterations / len(train_loader))
    return num_epochs
