"""Batches: moving them to a device and checking them once, at the first batch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from unitrain.core.contract import IMiniBatch
from unitrain.errors import BatchError

__all__ = ["check_batch", "move_to_device", "split_batch"]


def move_to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move tensors in a tensor, tuple, list, dict or minibatch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, IMiniBatch):  # the contract is to(device): pass only what is asked
        return batch.to(device, non_blocking=True) if non_blocking else batch.to(device)
    if isinstance(batch, tuple | list):
        moved = [move_to_device(item, device, non_blocking) for item in batch]
        return type(batch)(moved) if not hasattr(batch, "_fields") else type(batch)(*moved)
    if isinstance(batch, Mapping):
        return {key: move_to_device(value, device, non_blocking) for key, value in batch.items()}
    return batch


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` of a plain batch: a tensor, a tuple/list or a dict."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, tuple | list):
        if len(batch) == 0:
            raise BatchError("the batch is an empty sequence; expected (inputs, targets)")
        return batch[0], (batch[1] if len(batch) > 1 else None)
    if isinstance(batch, Mapping):
        inputs = _first_key(batch, ("input", "inputs", "x"))
        if inputs is None:
            raise BatchError(
                f"the batch is a dict with keys {sorted(batch)}; expected an 'input' (or "
                "'inputs' / 'x') key and optionally 'target' (or 'targets' / 'y' / 'label' / "
                "'labels'); override Task.split_batch for other layouts"
            )
        return inputs, _first_key(batch, ("target", "targets", "y", "label", "labels"))
    raise BatchError(
        f"cannot split a batch of type {type(batch).__name__} into inputs and targets; "
        "expected a tensor, an (inputs, targets) tuple, a dict or an IMiniBatch"
    )


def check_batch(batch: Any, where: str, expect_minibatch: bool = False) -> None:
    """Reject a batch the engine cannot use, naming what is wrong and how to fix it.

    Called on the first batch of every pass, before any optimizer step.
    """
    if expect_minibatch and not isinstance(batch, IMiniBatch):
        raise BatchError(
            f"{where}: collate returned {type(batch).__name__}, expected an IMiniBatch "
            "subclass; make the datum type's collate build and return your minibatch class"
        )
    if not isinstance(batch, torch.Tensor | tuple | list | Mapping | IMiniBatch):
        raise BatchError(
            f"{where}: got a batch of type {type(batch).__name__}; expected a tensor, a "
            "tuple/list, a dict or an IMiniBatch (check the loader's collate_fn)"
        )
    sizes = {name: int(t.shape[0]) for name, t in _leading_tensors(batch, "batch") if t.dim() > 0}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{name}: {size}" for name, size in sizes.items())
        raise BatchError(
            f"{where}: the batch's tensors disagree in batch size ({listing}); every "
            "tensor must have the same first dimension (check collate / the dataset)"
        )


def _leading_tensors(batch: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(batch, torch.Tensor):
        yield path, batch
    elif isinstance(batch, IMiniBatch):
        for name, tensor in batch.tensors():
            yield f"{path}.{name}", tensor
    elif isinstance(batch, tuple | list):
        for index, item in enumerate(batch):
            yield from _leading_tensors(item, f"{path}[{index}]")
    elif isinstance(batch, Mapping):
        for key, value in batch.items():
            yield from _leading_tensors(value, f"{path}[{key!r}]")


def _first_key(batch: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in batch:
            return batch[key]
    return None
