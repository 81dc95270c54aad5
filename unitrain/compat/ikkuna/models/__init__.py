"""``ikkuna.models`` at its unitrain path: the model definitions ikkuna's scripts train,
written anew (the same layer plans; each takes ``exporter=`` and hands itself to it)."""

from typing import Any

import torch

from unitrain.compat.ikkuna.models.alexnetmini import AlexNetMini
from unitrain.compat.ikkuna.models.densenet import DenseNet
from unitrain.compat.ikkuna.models.fc import FullyConnectedModel
from unitrain.compat.ikkuna.models.resnet import (
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from unitrain.compat.ikkuna.models.vgg import VGG

__all__ = ["VGG", "AlexNetMini", "DenseNet", "FullyConnectedModel", "ResNet", "get_model",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]  # fmt: skip


def get_model(name: str, *args: Any, **kwargs: Any) -> torch.nn.Module:
    """A model by class name (``ResNet18`` ... by factory, keyword arguments only)."""
    from unitrain.compat.ikkuna.utils import get_model as by_name

    return by_name(name, *args, **kwargs)
