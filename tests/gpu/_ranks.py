"""What each rank runs in the GPU tests (module level: CUDA ranks are spawned, not forked)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

import unitrain.bus as ub
from tests.distributed import _scenarios as s
from unitrain.plugins.amp import MixedPrecision


class Messages:
    """Counts the bus bundles that reach it (a plain subscriber plugin)."""

    def __init__(self) -> None:
        self.steps = 0

    def on_bus_bundles(self, state: Any, bundles: Any) -> None:
        self.steps += 1


def fp16_and_bus() -> dict[str, Any]:
    """fp16 autocast with a grad scaler and the bus, under DDP on this rank's GPU."""
    trainer = s.make_trainer(plugins=(MixedPrecision("fp16"),))
    seen = Messages()
    ub.attach(trainer, ub.NormSubscriber("activations"), ub.LossSubscriber())
    trainer.add_plugin(seen)
    trainer.fit(DataLoader(s.dataset(32), batch_size=8))
    scaler = trainer.state.grad_scaler
    return {
        "device": str(trainer.state.device),
        "weights": s.weights(trainer).cpu(),
        "scale": float(scaler.get_scale()) if scaler is not None else None,
        "bus_steps": seen.steps,
        "steps": trainer.state.global_step,
    }


def fsdp_resume_cpu_results(folder: str) -> dict[str, Any]:
    """The CPU FSDP resume scenario, its tensors brought to the CPU for the parent."""
    return {
        k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in s.fsdp_resume(folder).items()
    }
