"""``FullyConnectedModel``: ikkuna's plain multi-layer perceptron."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.compat.ikkuna.models._common import hand_to_exporter, hwc

__all__ = ["FullyConnectedModel"]


class FullyConnectedModel(nn.Module):
    """Flattened input → three hidden layers of ``hidden`` units → 1000 → ``num_classes``
    (ikkuna's widths: ``hidden=4000``), ReLU between them."""

    def __init__(
        self, input_shape: Any, num_classes: int = 1000, exporter: Any = None, hidden: int = 4000
    ) -> None:
        super().__init__()
        height, width, channels = hwc(input_shape)
        inputs = height * width * channels
        self.features = nn.Sequential(
            nn.Linear(inputs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(hidden, 1000), nn.ReLU(), nn.Linear(1000, num_classes)
        )
        hand_to_exporter(self, exporter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        out: torch.Tensor = self.classifier(self.features(x))
        return out
