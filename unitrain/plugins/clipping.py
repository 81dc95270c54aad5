"""Gradient clipping by norm and/or value, after unscaling under a grad scaler."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["GradientClipping"]


class GradientClipping:
    """Clip each optimizer's gradients right before its step.

    ``max_value`` clamps every gradient element to ``[-max_value, max_value]``; ``max_norm``
    rescales the gradients so their total ``norm_type``-norm is at most ``max_norm``. With
    both, value clipping comes first. The total norm before clipping is kept on the device
    as ``last_norm`` (reading it is a host sync, so only loggers that need it should).
    """

    name = "gradient_clipping"

    def __init__(
        self,
        max_norm: float | None = None,
        *,
        max_value: float | None = None,
        norm_type: float = 2.0,
    ) -> None:
        if max_norm is None and max_value is None:
            raise ConfigError("GradientClipping: give max_norm=, max_value= or both")
        for label, value in (("max_norm", max_norm), ("max_value", max_value)):
            if value is not None and not value > 0:
                raise ConfigError(f"GradientClipping({label}={value!r}): must be > 0")
        self.max_norm = max_norm
        self.max_value = max_value
        self.norm_type = norm_type
        self.last_norm: torch.Tensor | None = None
        self._params: dict[int, list[torch.Tensor]] = {}

    def on_before_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        if state.grad_scaler is not None:
            state.grad_scaler.unscale_(optimizer)  # clip true gradients, not scaled ones
        params = self._params.get(optimizer_idx)
        if params is None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            self._params[optimizer_idx] = params
        if self.max_value is not None:
            torch.nn.utils.clip_grad_value_(params, self.max_value)
        if self.max_norm is not None:
            self.last_norm = torch.nn.utils.clip_grad_norm_(
                params, self.max_norm, norm_type=self.norm_type
            )

    def on_fit_end(self) -> None:
        self._params.clear()
