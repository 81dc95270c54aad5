"""The typed data contract: ``IDatum`` → ``collate`` → ``IMiniBatch``, and ``IDataset``.

A dataset yields :class:`IDatum` samples; the datum type's ``collate`` turns a list of them
into an :class:`IMiniBatch`, a mutable context that the model fills in place and that
losses, metrics and plugins read. Plain ``(inputs, targets)`` tuples and dicts work too for
users who do not want the contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch

from unitrain.errors import BatchError

__all__ = ["IDataset", "IDatum", "IMiniBatch"]


class IMiniBatch:
    """A batch as a mutable object: tensors as attributes, filled in place by the model.

    ``model`` is set by the engine before the forward pass, so losses and metrics can reach
    the model. ``padding`` counts trailing samples that are padding (a distributed sampler
    repeats samples to even out ranks); metrics ignore them.
    """

    model: torch.nn.Module | None = None
    padding: int = 0

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The tensor attributes of this batch, by name."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                yield name, value

    def to(self, device: torch.device | str, non_blocking: bool = False) -> IMiniBatch:
        """Move every tensor attribute to ``device`` in place; return ``self``."""
        for name, value in list(self.tensors()):
            setattr(self, name, value.to(device, non_blocking=non_blocking))
        return self

    @property
    def batch_size(self) -> int:
        """The leading size of the first tensor attribute (override for other layouts)."""
        for _, value in self.tensors():
            if value.dim() > 0:
                return int(value.shape[0])
        raise BatchError(
            f"{type(self).__name__} has no tensor attribute with a batch dimension; "
            "set one in collate or override the batch_size property"
        )

    @property
    def nopad_batch_size(self) -> int:
        """The number of real (not padding) samples."""
        return self.batch_size - self.padding


class IDatum:
    """One sample. The class attributes configure the loaders the engine builds."""

    uuid: Any = None
    train_batch_size: ClassVar[int] = 2
    val_batch_size: ClassVar[int] = 2
    num_workers: ClassVar[int] = 0

    @staticmethod
    def collate(data: Sequence[IDatum]) -> IMiniBatch:
        """Turn a list of samples into a minibatch; every datum type defines its own."""
        kind = type(data[0]).__name__ if data else "IDatum"
        raise BatchError(
            f"{kind}.collate is not defined: give {kind} a @staticmethod "
            "collate(data: Sequence[IDatum]) -> IMiniBatch that builds your minibatch type"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uuid={self.uuid!r})"


class IDataset(torch.utils.data.Dataset[IDatum]):
    """A sized dataset of :class:`IDatum`; ``datum_type`` tells batch sizes and collate."""

    datum_type: ClassVar[type[IDatum]] = IDatum

    def __init__(self, root: str = "", split: str = "train") -> None:
        self.root = root
        self.split = split

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> IDatum:
        raise TypeError(f"{type(self).__name__} must define __getitem__")
