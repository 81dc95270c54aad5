"""``use_amp``: aitoolbox's fp16 autocast with a GradScaler, as the native plugin.

``use_amp=True`` registers :class:`unitrain.plugins.amp.MixedPrecision` with
``dtype="fp16"``; a dict is passed to ``torch.amp.GradScaler`` as its keyword arguments.
fp16 autocast with a scaler needs CUDA: elsewhere ``use_amp`` warns and trains in full
precision, as aitoolbox's self-disabling scaler did (for CPU mixed precision pass
``MixedPrecision("bf16")`` in ``plugins=``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import ConfigError
from unitrain.plugins.amp import MixedPrecision

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop
    from unitrain.core.state import State

__all__ = ["CompatMixedPrecision", "amp_plugin", "check_amp"]


def check_amp(use_amp: object, device: str) -> bool:
    """Whether fp16 mixed precision runs: ``use_amp`` on a CUDA device.

    aitoolbox's scaler silently disabled itself without CUDA; here that case runs in full
    precision too, with a warning that says so.
    """
    if not isinstance(use_amp, bool | dict):
        raise ConfigError(
            f"TrainLoop(use_amp={use_amp!r}): expected True, False or a dict of "
            "torch.amp.GradScaler keyword arguments"
        )
    if use_amp is not False and torch.device(device).type != "cuda":
        warnings.warn(
            f"TrainLoop(use_amp={use_amp!r}): fp16 autocast with a GradScaler needs CUDA, but "
            f"the loop runs on {device!r}; training in full precision (for bf16 on CPU pass "
            "plugins=[unitrain.plugins.amp.MixedPrecision('bf16')])",
            stacklevel=3,
        )
        return False
    return use_amp is not False


class CompatMixedPrecision(MixedPrecision):
    """fp16 mixed precision whose scaler takes aitoolbox's kwargs and restored state."""

    def __init__(self, loop: TrainLoop) -> None:
        super().__init__("fp16")
        self.loop = loop

    def on_fit_start(self, state: State) -> None:
        super().on_fit_start(state)
        settings: Any = self.loop.amp_settings
        if isinstance(settings, dict) and settings:
            self.scaler = torch.amp.GradScaler(state.device.type, **settings)
            state.grad_scaler = self.scaler
        if self.loop.amp_scaler_state is not None:
            self.scaler.load_state_dict(self.loop.amp_scaler_state)
            self.loop.amp_scaler_state = None


def amp_plugin(loop: TrainLoop) -> CompatMixedPrecision:
    """The mixed-precision plugin for ``loop``'s ``use_amp``."""
    return CompatMixedPrecision(loop)
