"""Mixed precision: autocast around the compute stages, a grad scaler for fp16 on CUDA."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.errors import ConfigError
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["MixedPrecision"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class MixedPrecision:
    """Run forward, eval and predict stages under ``torch.autocast``.

    ``dtype="bf16"`` works on CPU and CUDA. ``dtype="fp16"`` needs CUDA and adds a
    ``torch.amp.GradScaler`` (exposed as ``state.grad_scaler``): the loss is scaled before
    backward, gradients are unscaled by whoever clips them, and steps whose gradients
    overflow are skipped, as ``GradScaler`` does.
    """

    name = "mixed_precision"

    def __init__(self, dtype: Literal["bf16", "fp16"] = "bf16", scaler: bool | None = None) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"MixedPrecision(dtype={dtype!r}): expected 'bf16' or 'fp16'")
        self.dtype = _DTYPES[dtype]
        self.use_scaler = dtype == "fp16" if scaler is None else scaler
        self.scaler: Any = None

    def on_fit_start(self, state: State) -> None:
        if state.device.type == "cpu" and self.dtype == torch.float16:
            raise ConfigError(
                "MixedPrecision(dtype='fp16') needs a CUDA device, but the trainer runs on "
                "CPU; use dtype='bf16' on CPU"
            )
        if self.use_scaler:
            self.scaler = torch.amp.GradScaler(state.device.type)
            state.grad_scaler = self.scaler

    def _autocast(self, state: State) -> torch.autocast:
        return torch.autocast(device_type=state.device.type, dtype=self.dtype)

    @hookimpl(wrapper=True)
    def run_forward(self, state: State) -> Generator[None, Any, Any]:
        with self._autocast(state):
            return (yield)

    @hookimpl(wrapper=True)
    def run_eval_step(self, state: State) -> Generator[None, Any, Any]:
        with self._autocast(state):
            return (yield)

    @hookimpl(wrapper=True)
    def run_predict_step(self, state: State) -> Generator[None, Any, Any]:
        with self._autocast(state):
            return (yield)

    def run_backward(self, state: State, result: StepResult) -> bool | None:
        if self.scaler is None or result.loss is None:
            return None
        loss = result.loss
        if state.accumulation_window > 1:
            loss = loss / state.accumulation_window
        self.scaler.scale(loss).backward()
        return True

    def run_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> bool | None:
        if self.scaler is None:
            return None
        self.scaler.step(optimizer)
        if optimizer_idx == len(state.optimizers) - 1 and state.optimization != "manual":
            # once per iteration, after every optimizer stepped (in manual optimization the
            # task may step only some: the engine updates after the window's step)
            self.scaler.update()
        return True

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.scaler is not None:
            checkpoint.setdefault("plugins", {})[self.name] = self.scaler.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("plugins", {}).get(self.name)
        if saved is not None and self.scaler is not None:
            self.scaler.load_state_dict(saved)
