"""``AlexNetMini``: two small convolutions and a dropout classifier, for any input size."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.ikkuna.models._common import hand_to_exporter, hwc

__all__ = ["AlexNetMini"]


class AlexNetMini(nn.Module):
    """conv3x3(4) → ReLU → conv3x3(8) → ReLU → maxpool2 → dropout → linear(16) → ReLU →
    dropout → linear(``num_classes``); ``input_shape`` is ``(H, W, C)`` as in ikkuna."""

    def __init__(self, input_shape: Any, num_classes: int = 1000, exporter: Any = None) -> None:
        super().__init__()
        height, width, channels = hwc(input_shape)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 4, kernel_size=3),
            nn.ReLU(),
            nn.Conv2d(4, 8, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.H_out = (height - 4) // 2
        self.W_out = (width - 4) // 2
        if self.H_out < 1 or self.W_out < 1:
            raise ValueError(f"AlexNetMini: input {height}x{width} is too small (min 6x6)")
        self.classifier = nn.Sequential(
            nn.Dropout(0.25),
            nn.Linear(8 * self.H_out * self.W_out, 16),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(16, num_classes),
        )
        hand_to_exporter(self, exporter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        out: torch.Tensor = self.classifier(x.reshape(x.shape[0], -1))
        return out
