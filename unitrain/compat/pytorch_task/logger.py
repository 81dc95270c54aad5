"""``Logger``: collects named values step by step and stores them, post-processed, in a
Snapshot (the seed's class, unchanged in behaviour).

Values may be floats or scalar tensors; tensors are read from the device once per
post-processing (one host copy per name), not once per logged step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

__all__ = ["Logger"]

Postprocess = Callable[[list[Any]], Any]


def _average(values: list[Any]) -> Any:
    return sum(values) / len(values)


def _all(values: list[Any]) -> Any:
    return values


class Logger:
    """``Logger('average' | 'all' | callable)``: ``log(dict)`` each step, then store or return.

    ``'average'`` keeps the mean of each name, ``'all'`` the whole list, a callable whatever
    it returns for the list.
    """

    post_funs: ClassVar[dict[str, Postprocess]] = {"all": _all, "average": _average}

    def __init__(self, mode: str | Postprocess = "average") -> None:
        self.values: dict[str, list[Any]] = {}
        self.has_post_fun = mode != "all"
        if isinstance(mode, str) and mode in self.post_funs:
            self.postprocess: Postprocess = self.post_funs[mode]
        elif callable(mode):
            self.postprocess = mode
        else:
            raise KeyError(
                f"Logger(mode={mode!r}): unknown post-processing; use 'average', 'all' or a "
                "function of the list of values"
            )

    def log(self, losses: dict[str, Any]) -> None:
        """Append each named value to its list."""
        for name, value in losses.items():
            self.values.setdefault(name, []).append(value)

    def _final(self, values: list[Any]) -> Any:
        return self.postprocess(_plain(values))

    def store_train(self, snapshot: Any, epoch_i: int | None = None) -> None:
        """Append each post-processed value to the snapshot's ``train_data`` (and ``epoch_i``)."""
        with snapshot.train_storage() as transaction:
            for key, values in self.values.items():
                transaction.append(key, self._final(values))
            if epoch_i is not None:
                transaction.append("epoch_i", epoch_i)

    def store_test(self, snapshot: Any, store_raw: bool = True) -> None:
        """Store each post-processed value in ``test_data`` (and the raw list as ``<key>_data``
        when post-processing changed it and ``store_raw``)."""
        with snapshot.test_storage() as transaction:
            for key, values in self.values.items():
                plain = _plain(values)
                transaction.store(key, self.postprocess(plain))
                if self.has_post_fun and store_raw:
                    transaction.store(key + "_data", plain)

    def return_final(self) -> dict[str, Any]:
        """``{name: post-processed value}`` without storing anything."""
        return {key: self._final(values) for key, values in self.values.items()}


def _plain(values: list[Any]) -> list[Any]:
    """Floats and lists instead of tensors, with one device-to-host copy per list."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return list(values)
    if len(tensors) == len(values) and all(t.dim() == 0 for t in tensors):
        plain: list[Any] = torch.stack([t.detach().double() for t in tensors]).tolist()
        return plain
    return [v.detach().tolist() if isinstance(v, torch.Tensor) else v for v in values]
