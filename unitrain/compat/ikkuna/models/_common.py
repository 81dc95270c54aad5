"""What every ikkuna model does with ``exporter=``: register itself and its modules."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["hand_to_exporter", "hwc"]


def hand_to_exporter(model: torch.nn.Module, exporter: Any) -> None:
    """``exporter.set_model(model)`` then ``exporter.add_modules(model)``, as ikkuna's did."""
    if exporter is not None:
        exporter.set_model(model)
        exporter.add_modules(model)


def hwc(input_shape: Any) -> tuple[int, int, int]:
    """``(H, W, C)`` from ikkuna's ``input_shape`` (``(H, W)`` means one channel)."""
    shape = tuple(int(n) for n in input_shape)
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (H, W) or (H, W, C), got {input_shape!r}")
    return shape[0], shape[1], shape[2]
