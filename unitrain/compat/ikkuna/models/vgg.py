"""``VGG``: the eleven-convolution VGG with batch norm, for inputs of at least 32x32."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.ikkuna.models._common import hand_to_exporter, hwc

__all__ = ["VGG"]

_PLAN: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class VGG(nn.Module):
    """Blocks of conv3x3 → batch norm → ReLU with five max-pools, then one linear layer."""

    def __init__(self, input_shape: Any, num_classes: int = 1000, exporter: Any = None) -> None:
        super().__init__()
        height, width, channels = hwc(input_shape)
        if not 1 <= channels <= 3 or height < 32 or width < 32:
            raise ValueError(f"VGG: expected 1-3 channels and at least 32x32, got {input_shape}")
        layers: list[nn.Module] = []
        current = channels
        for step in _PLAN:
            if step == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                assert isinstance(step, int)
                layers += [nn.Conv2d(current, step, 3, padding=1), nn.BatchNorm2d(step), nn.ReLU()]
                current = step
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512 * (height // 32) * (width // 32), num_classes)
        hand_to_exporter(self, exporter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x).reshape(x.shape[0], -1))
        return out
