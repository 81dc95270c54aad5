"""``DenseNet``: the CIFAR-style densely connected network (DenseNet-BC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from unitrain.compat.ikkuna.models._common import hand_to_exporter, hwc

__all__ = ["DenseNet"]


class _DenseLayer(nn.Module):
    """BN → ReLU → 1x1 conv (``bn_size * growth``) → BN → ReLU → 3x3 conv (``growth``)."""

    def __init__(self, inputs: int, growth: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(inputs)
        self.conv1 = nn.Conv2d(inputs, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.conv1(functional.relu(self.norm1(features)))
        out = self.conv2(functional.relu(self.norm2(out)))
        if self.drop_rate > 0:
            out = functional.dropout(out, p=self.drop_rate, training=self.training)
        return torch.cat([features, out], dim=1)


class _Transition(nn.Sequential):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__(
            nn.BatchNorm2d(inputs),
            nn.ReLU(),
            nn.Conv2d(inputs, outputs, 1, bias=False),
            nn.AvgPool2d(kernel_size=2, stride=2),
        )


class DenseNet(nn.Module):
    """``DenseNet(input_shape, growth_rate=12, block_config=(16, 16, 16), compression=0.5,
    num_init_features=24, bn_size=4, drop_rate=0, num_classes=10, exporter=None)``."""

    def __init__(
        self,
        input_shape: Any,
        growth_rate: int = 12,
        block_config: Sequence[int] = (16, 16, 16),
        compression: float = 0.5,
        num_init_features: int = 24,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 10,
        exporter: Any = None,
        **_ignored: Any,  # ikkuna's memory-efficient switch: no effect on the result
    ) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError("DenseNet: compression must be in (0, 1]")
        _, _, channels = hwc(input_shape)
        layers: list[nn.Module] = [nn.Conv2d(channels, num_init_features, 3, padding=1, bias=False)]
        features = num_init_features
        for index, count in enumerate(block_config):
            block = []
            for _ in range(count):
                block.append(_DenseLayer(features, growth_rate, bn_size, drop_rate))
                features += growth_rate
            layers.append(nn.Sequential(*block))
            if index != len(block_config) - 1:
                reduced = int(features * compression)
                layers.append(_Transition(features, reduced))
                features = reduced
        layers.append(nn.BatchNorm2d(features))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(features, num_classes)
        hand_to_exporter(self, exporter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.features(x))
        logits: torch.Tensor = self.classifier(functional.adaptive_avg_pool2d(out, 1).flatten(1))
        return logits
