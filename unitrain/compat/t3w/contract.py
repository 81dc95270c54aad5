"""t3w's data contract: the native one, with t3w's spellings where they differ.

``IDatum``, ``IMiniBatch`` and ``IDataset`` are unitrain's own classes (so the engine's
loaders and checks know them); the subclasses here add what t3w code reads or writes:
``IMiniBatch._nopad_batch_size`` (unitrain stores the same fact as ``padding``),
``IDatum.from_uuid`` and ``IDataset(root, split=None)``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Hashable
from typing import Any, Literal, TypedDict

import torch

from unitrain.core import contract as native

__all__ = [
    "IDataset",
    "IDatum",
    "IMiniBatch",
    "Interface",
    "StepReturnDict",
    "manual_seed",
]


class Interface:
    """Marker: every direct subclass is an interface the user implements (named ``I*``)."""


class IMiniBatch(native.IMiniBatch, Interface):
    """A minibatch filled in place by the model; ``model`` is the :class:`TopLevelModule`.

    t3w minibatches set ``self.batch_size = len(data)`` in ``__init__``: that stores the full
    batch size (padding included) and marks every sample real, as t3w's loops then did;
    without it the size is read from the first tensor attribute. ``_nopad_batch_size`` is
    t3w's name for the number of real samples; it reads and writes unitrain's ``padding`` so
    both spellings always agree.
    """

    @property
    def batch_size(self) -> int:
        """The full batch size: the one set in ``__init__``, else the first tensor's length."""
        stored = self.__dict__.get("_t3w_batch_size")
        return int(stored) if stored is not None else native.IMiniBatch.batch_size.fget(self)  # type: ignore[attr-defined]

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError(
                f"{type(self).__name__}.batch_size = {value!r}: expected the number of samples "
                "in the batch (an int >= 0), as t3w's collate passes len(data)"
            )
        self.__dict__["_t3w_batch_size"] = value
        self.padding = 0

    @property
    def _nopad_batch_size(self) -> int:
        return self.nopad_batch_size

    @_nopad_batch_size.setter
    def _nopad_batch_size(self, value: int) -> None:
        self.padding = self.batch_size - int(value)


class IDatum(native.IDatum, Interface):
    """One sample; its class attributes set the loops' batch sizes and workers."""

    @classmethod
    def from_uuid(cls, uuid: Hashable) -> native.IDatum:
        """Rebuild a datum from ``uuid == (dataset_type, root, split, index)`` (t3w's layout)."""
        if not (isinstance(uuid, tuple) and len(uuid) == 4):
            raise TypeError(
                f"{cls.__name__}.from_uuid({uuid!r}): expected (dataset_type, root, split, "
                "index); override from_uuid for another uuid layout"
            )
        dataset_type, root, split, index = uuid
        dataset = dataset_type(root, split)
        datum: native.IDatum = dataset[index]
        return datum


class IDataset(native.IDataset, Interface):
    """A sized dataset of ``datum_type`` samples, ``IDataset(root, split=None)`` as in t3w."""

    def __init__(self, root: str, split: str | None = None) -> None:
        self.root = root
        self.split = split  # type: ignore[assignment]


class StepReturnDict(TypedDict, total=False):
    """What ``on_train_step_finished`` receives: ``losses[name] == (reweight, raw)`` and
    ``metrics[name]`` (scalar tensors, still on the device); ``regularizer_loss`` appears
    under ``losses`` when the model returned one."""

    losses: dict[str, tuple[float, torch.Tensor]]
    metrics: dict[str, torch.Tensor]


StepKey = Literal["losses", "metrics"]


def manual_seed(seed: int, strict: bool = False) -> None:
    """Seed ``random``, numpy and torch; ``strict`` also asks torch for deterministic kernels
    (warning, not failing, where none exists) and sets ``CUBLAS_WORKSPACE_CONFIG``."""
    torch.manual_seed(seed)
    random.seed(seed)
    seed_numpy(seed)
    if strict:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.use_deterministic_algorithms(True, warn_only=True)


def seed_numpy(seed: int) -> None:
    """Seed numpy's global generator, when numpy is installed (torch does not need it)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with most torch installs
        return
    numpy.random.seed(seed)


def empty_step_return() -> StepReturnDict:
    """A fresh ``{"losses": {}, "metrics": {}}``."""
    return {"losses": {}, "metrics": {}}


def as_step_return(value: Any) -> StepReturnDict | None:
    """``value`` if it is a step-return dict (has ``losses`` and ``metrics``), else None."""
    if isinstance(value, dict) and "losses" in value and "metrics" in value:
        result: StepReturnDict = value  # type: ignore[assignment]
        return result
    return None
