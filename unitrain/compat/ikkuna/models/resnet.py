"""``ResNet``: the CIFAR-style residual networks (3x3 stem, four stages) and their factories."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from unitrain.compat.ikkuna.models._common import hand_to_exporter

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101",
           "resnet152"]  # fmt: skip


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.bn1(self.conv1(x)))
        return functional.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce → 3x3 → 1x1 expand (x4), with batch norm and a shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = _shortcut(in_planes, out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu(self.bn1(self.conv1(x)))
        y = functional.relu(self.bn2(self.conv2(y)))
        return functional.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


class ResNet(nn.Module):
    """``ResNet(BlockType, num_blocks, num_classes=10, exporter=None)`` for 3-channel images."""

    def __init__(
        self,
        BlockType: type[BasicBlock | Bottleneck],  # ikkuna's argument name
        num_blocks: list[int],
        num_classes: int = 10,
        exporter: Any = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(BlockType, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(BlockType, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(BlockType, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(BlockType, 512, num_blocks[3], 2)
        self.linear = nn.Linear(512 * BlockType.expansion, num_classes)
        hand_to_exporter(self, exporter)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, count: int, stride: int
    ) -> nn.Sequential:
        layers = []
        for first in [stride] + [1] * (count - 1):
            layers.append(block(self.in_planes, planes, first))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = functional.adaptive_avg_pool2d(out, 1).flatten(1)
        logits: torch.Tensor = self.linear(out)
        return logits


def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101 (bottlenecks 3-4-23-3)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **kwargs)


def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152 (bottlenecks 3-8-36-3)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], **kwargs)
