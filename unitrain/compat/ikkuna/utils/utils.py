"""ikkuna's training-script helpers: datasets, seeding, optimizers and models by name."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from unitrain.errors import ConfigError

__all__ = [
    "DatasetMeta",
    "available_optimizers",
    "create_optimizer",
    "get_model",
    "initialize_model",
    "load_dataset",
    "seed_everything",
]


class DatasetMeta(NamedTuple):
    """A dataset with its class count and shape ``(N, H, W, C)``."""

    dataset: Any
    num_classes: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of samples."""
        return int(self.shape[0])


def seed_everything(seed: int = 1234) -> None:
    """Seed ``random``, numpy, torch (and CUDA, with deterministic cuDNN) and set
    ``PYTHONHASHSEED`` (for processes started later)."""
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy comes with torch installs
        pass
    os.environ["PYTHONHASHSEED"] = str(seed)


def available_optimizers() -> list[str]:
    """Names of the optimizer classes in :mod:`torch.optim`."""
    return sorted(
        name
        for name in dir(torch.optim)
        if not name.startswith("_")
        and isinstance(getattr(torch.optim, name), type)
        and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
        and getattr(torch.optim, name) is not torch.optim.Optimizer
    )


def create_optimizer(model: torch.nn.Module, name: str, **kwargs: Any) -> torch.optim.Optimizer:
    """``torch.optim.<name>`` over the parameters of ``model`` that require gradients."""
    if name not in available_optimizers():
        raise ValueError(
            f"create_optimizer: unknown optimizer {name!r}; expected one of "
            f"{available_optimizers()}"
        )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer = getattr(torch.optim, name)(params, **kwargs)
    return optimizer


def get_model(model_name: str, *args: Any, **kwargs: Any) -> torch.nn.Module:
    """A model of :mod:`unitrain.compat.ikkuna.models` by class name (``ResNet18``... by
    their factory, with keyword arguments only)."""
    from unitrain.compat.ikkuna import models

    if model_name.startswith("ResNet") and hasattr(models, model_name.lower()):
        factory = getattr(models, model_name.lower())
        model: torch.nn.Module = factory(**kwargs)
        return model
    cls = getattr(models, model_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(
            f"get_model: unknown model {model_name!r}; expected one of {models.__all__} "
            "or ResNet18/34/50/101/152"
        )
    made: torch.nn.Module = cls(*args, **kwargs)
    return made


def initialize_model(module: torch.nn.Module, bias_val: float = 0.01) -> None:
    """Initialise an ``AlexNetMini`` (Xavier weights, constant biases) or a ``DenseNet``
    (He convolutions, unit batch norms, zero linear biases); other models are refused.

    ikkuna's version initialised only the root module's own ``weight`` for AlexNetMini
    (which has none), so it changed nothing; here every layer is initialised.
    """
    from unitrain.compat.ikkuna import models

    if isinstance(module, models.AlexNetMini):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d | torch.nn.Linear):
                torch.nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    torch.nn.init.constant_(layer.bias, bias_val)
    elif isinstance(module, models.DenseNet):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(layer.weight)
            elif isinstance(layer, torch.nn.BatchNorm2d):
                torch.nn.init.ones_(layer.weight)
                torch.nn.init.zeros_(layer.bias)
            elif isinstance(layer, torch.nn.Linear) and layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)
    else:
        raise ValueError(
            f"initialize_model: don't know how to initialise {type(module).__name__}; "
            "expected AlexNetMini or DenseNet"
        )


def load_dataset(
    name: str,
    train_transforms: Sequence[Any] | None = None,
    test_transforms: Sequence[Any] | None = None,
    root: str | None = None,
    download: bool = True,
) -> tuple[DatasetMeta, DatasetMeta]:
    """A torchvision dataset's train and test splits as :class:`DatasetMeta` (class count from
    the distinct labels, shape ``(N, H, W, C)`` from the first sample).

    Needs torchvision. ``root`` defaults to ikkuna's (``/home/share/data`` when it exists,
    else ``/tmp/data``). ikkuna's ``ImageNetDogs`` folder dataset is not provided.
    """
    try:
        import torchvision  # type: ignore[import-not-found]
        from torchvision.transforms import Compose  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            f"load_dataset({name!r}) loads torchvision datasets and needs torchvision, which "
            "is not installed: pip install torchvision, or build a DatasetMeta(dataset, "
            "num_classes, shape) from your own dataset"
        ) from None
    dataset_cls = getattr(torchvision.datasets, name, None)
    if dataset_cls is None:
        raise ConfigError(f"load_dataset: torchvision has no dataset named {name!r}")
    if root is None:
        root = "/home/share/data" if os.path.exists("/home/share/") else "/tmp/data"
    splits = []
    for train, transforms in ((True, train_transforms), (False, test_transforms)):
        transform = Compose(list(transforms)) if transforms else None
        splits.append(dataset_cls(root, train=train, transform=transform, download=download))
    train_set, test_set = splits
    return _meta(train_set), _meta(test_set)


def _meta(dataset: Any) -> DatasetMeta:
    source = getattr(dataset, "dataset", dataset)  # a Subset's labels are its parent's
    labels = getattr(source, "targets", None)
    if labels is None:
        labels = getattr(source, "labels", None)
    if labels is None:
        raise ConfigError(f"{type(source).__name__} has neither `targets` nor `labels`")
    classes = len(set(torch.as_tensor(labels).reshape(-1).tolist()))
    sample = dataset[0][0]
    if not isinstance(sample, torch.Tensor):
        raise ConfigError(
            f"load_dataset: samples are {type(sample).__name__}, not tensors; pass "
            "train_transforms=[ToTensor()] / test_transforms=[ToTensor()]"
        )
    if sample.dim() == 3:
        channels, height, width = sample.shape
    else:
        (height, width), channels = sample.shape, 1
    return DatasetMeta(dataset, classes, (len(dataset), height, width, channels))
