"""The precision recipes of ``gpu.py`` and its per-step counters of host syncs.

**The recipe** is what unitrain's ``MixedPrecision`` plugin (``unitrain/plugins/amp.py``)
does, written out by hand for the raw loop, so that both sides run the same kernels in the
same order and end with bit-identical weights: ``fp32`` is the plain step; ``bf16`` wraps
forward and loss in ``torch.autocast(device, dtype=torch.bfloat16)`` and nothing else (no
scaler); ``fp16`` wraps them in ``torch.autocast(device, dtype=torch.float16)`` and adds a
``torch.amp.GradScaler``: ``scaler.scale(loss).backward()``, ``scaler.step(optimizer)``,
``scaler.update()``. fp16 needs CUDA (the plugin refuses it on CPU).

**Host syncs per step**, two counts, both as ``(count(2n) − count(n)) / n`` over one-epoch
fits of ``n`` and ``2n`` batches, so that whatever a fit does once (moving the model,
creating the scaler, the first batch's checks) cancels:

- ``cuda_syncs`` (CUDA only): ``torch.cuda.set_sync_debug_mode("warn")`` makes every
  synchronizing CUDA call (a device-to-host copy, ``.item()``, a stream or device
  synchronize, a copy from pageable host memory) raise a warning; we record the warnings
  and count those that say "synchronizing". This is the authoritative count: torch's own
  check at the places it synchronizes (experimental in torch, and torch.distributed and
  sparse ops are not covered, neither of which these benchmarks use).
- ``host_reads`` (any device): calls of ``aten._local_scalar_dense``, the op behind
  ``.item()``, ``bool(t)``, ``float(t)`` and ``int(t)``, seen by a ``TorchDispatchMode``.
  Each is a sync on a GPU; on CPU nothing waits, but the same reads are made, so this count
  is what the CPU run can check. It counts torch's own reads too (``GradScaler.step`` reads
  whether the gradients overflowed: one read a step, in the raw loop as in unitrain).

A profiler-based count (CUPTI's ``cudaStreamSynchronize`` / ``cudaMemcpy`` events) was not
chosen: it needs CUPTI and the runtime calls behind one sync differ between CUDA versions,
while the sync-debug mode is the check PyTorch itself documents for this purpose.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from _common import Batch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "PRECISIONS",
    "HostReads",
    "count_cuda_syncs",
    "count_host_reads",
    "per_step",
    "plugins_for",
    "raw_epoch",
    "unsupported",
]

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SYNC_MESSAGE = "synchronizing CUDA operation"
"""What torch's sync-debug warning says (``c10/cuda``: "called a synchronizing CUDA operation")."""


def unsupported(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` cannot run on ``device``, or ``None`` when it can."""
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})"
    if precision == "fp16" and device.type != "cuda":
        return (
            "fp16 autocast needs CUDA: unitrain's MixedPrecision('fp16') refuses a CPU "
            "device and its GradScaler is CUDA's (run with --device cuda on a GPU host)"
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "this GPU has no bf16 support"
    return None


def plugins_for(precision: str) -> list[object]:
    """unitrain's side of the recipe: the ``MixedPrecision`` plugin, or nothing for fp32."""
    if precision == "fp32":
        return []
    from unitrain.plugins import MixedPrecision

    return [MixedPrecision("bf16" if precision == "bf16" else "fp16")]


def raw_epoch(
    model: nn.Module,
    batches: Sequence[Batch],
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device,
    precision: str,
) -> Callable[[], None]:
    """The raw loop's side of the recipe: one epoch per call (optimizer and scaler persist)."""
    dtype = _DTYPES.get(precision)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    model.train()

    def epoch() -> None:
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            if dtype is None:
                loss = loss_fn(model(inputs), targets)
            else:
                with torch.autocast(device.type, dtype=dtype):
                    loss = loss_fn(model(inputs), targets)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            optimizer.zero_grad(set_to_none=True)

    return epoch


class HostReads(TorchDispatchMode):  # type: ignore[misc]
    """Counts ``aten._local_scalar_dense`` calls (every ``.item()`` and the like)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def count_host_reads(run: Callable[[], object]) -> int:
    """Host reads of tensor values made while ``run()`` runs."""
    with HostReads() as reads:
        run()
    return reads.count


def count_cuda_syncs(run: Callable[[], object]) -> int:
    """Synchronizing CUDA calls made while ``run()`` runs (sync-debug warnings)."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # one warning per call, not one per call site
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    return sum(SYNC_MESSAGE in str(warning.message) for warning in caught)


def per_step(count: Callable[[int], int], steps: int) -> float:
    """``(count(2·steps) − count(steps)) / steps``: ``count(n)`` counts over a one-epoch
    fit of ``n`` batches; what a fit does once cancels."""
    return (count(2 * steps) - count(steps)) / steps
