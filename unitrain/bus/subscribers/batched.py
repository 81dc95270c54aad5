"""One statistic of many tensors in one call: the reductions :class:`LayerStats` batches.

``batched_statistic(name)`` returns a function from a list of tensors (one per layer) to
one 0-dim tensor per layer. Norms and maxima use the fused multi-tensor kernels
(``torch._foreach_norm``, ``torch._foreach_max``): on CUDA one launch per dtype for every
layer; on CPU one call whose per-tensor loop runs in C++ and gives the very values of
``t.norm(p)`` / ``t.max()`` (tested bit for bit). PyTorch has no multi-tensor sum, mean,
minimum or variance, so those are a loop of the per-tensor reduction (identical values by
construction), still on the device and without a host sync. ``single_statistic(name)``
is the same statistic of one tensor, for reductions made one output at a time.
:func:`distinct_tensors` and :func:`same_elements` tell when two tensors are the very same
elements (a view such as ``nn.Flatten``'s output), whose statistics are computed once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial

import torch

from unitrain.errors import ConfigError

__all__ = [
    "STATISTICS",
    "BatchedStatistic",
    "SingleStatistic",
    "batched_statistic",
    "distinct_tensors",
    "norm_order",
    "same_elements",
    "single_statistic",
]

BatchedStatistic = Callable[[list[torch.Tensor]], Sequence[torch.Tensor]]
SingleStatistic = Callable[[torch.Tensor], torch.Tensor]

STATISTICS = ("max", "mean", "min", "norm<p>", "std", "sum", "variance")
"""The statistic names :func:`batched_statistic` knows (``norm<p>``: ``norm1``, ``norm2``,
``norminf``, any ``p > 0``)."""

_NORM = re.compile(r"norm(inf|\d+(?:\.\d+)?)")


def norm_order(name: str) -> float | None:
    """The ``p`` of a ``norm<p>`` statistic name (``None`` for other names)."""
    match = _NORM.fullmatch(name)
    if match is None:
        return None
    p = float(match.group(1))
    return p if p > 0 else None


def _norms(p: float) -> BatchedStatistic:
    def compute(tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return torch._foreach_norm(tensors, p)

    return compute


def _max(tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
    return torch._foreach_max(tensors)


_LOOPED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": torch.mean,
    "min": torch.amin,
    "std": torch.std,
    "sum": torch.sum,
    "variance": torch.var,
}


def _looped(reduce: Callable[[torch.Tensor], torch.Tensor]) -> BatchedStatistic:
    def compute(tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return [reduce(t) for t in tensors]

    return compute


def single_statistic(name: str, where: str = "LayerStats") -> SingleStatistic:
    """The same statistic of one tensor (for reductions made one output at a time, where a
    one-element multi-tensor call would only add its overhead); the same values."""
    batched_statistic(name, where)  # the same check, the same error
    if name == "max":
        return torch.max
    if name in _LOOPED:
        return _LOOPED[name]
    p = norm_order(name)
    assert p is not None
    # the torch function itself, its order bound: no Python frame between it and the caller
    return partial(torch.linalg.vector_norm, ord=p)


def batched_statistic(name: str, where: str = "LayerStats") -> BatchedStatistic:
    """The function computing statistic ``name`` for a list of tensors (see the module doc).

    Raises :class:`~unitrain.errors.ConfigError` naming ``where`` for an unknown name.
    """
    if name == "max":
        return _max
    if name in _LOOPED:
        return _looped(_LOOPED[name])
    p = norm_order(name) if isinstance(name, str) else None
    if p is None:
        raise ConfigError(
            f"{where}: unknown statistic {name!r}; use one of {list(STATISTICS)} "
            "(e.g. 'norm2', 'norminf', 'mean')"
        )
    return _norms(p)


def distinct_tensors(tensors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int] | None]:
    """The tensors without repeats, and where each one's values come from (``None``: no
    repeat). A repeat is the same contiguous memory read as the same dtype, e.g. the output
    of ``nn.Flatten`` and its input: the very elements in the very order, so every
    statistic of it is the same, bit for bit, and is computed once. (All are alive at
    once, held by their messages or the taps, so equal addresses are the same memory.)"""
    seen: dict[tuple[int, torch.dtype, int], int] = {}
    where: list[int] = []
    distinct: list[torch.Tensor] = []
    for tensor in tensors:
        if tensor.is_contiguous():
            key = (tensor.data_ptr(), tensor.dtype, tensor.numel())
            index = seen.get(key)
            if index is None:
                index = seen[key] = len(distinct)
                distinct.append(tensor)
        else:
            index = len(distinct)
            distinct.append(tensor)
        where.append(index)
    return (tensors, None) if len(distinct) == len(tensors) else (distinct, where)


def same_elements(data: torch.Tensor, before: torch.Tensor, version: int) -> bool:
    """Whether ``data`` holds the very elements, in the very order, that ``before`` held when
    it was reduced: the same contiguous memory read as the same dtype (``before`` is held, so
    the memory at its address is still its own), unchanged since (a view shares its base's
    version counter, which an in-place change, e.g. ``ReLU(inplace=True)``, advances)."""
    return (
        data.data_ptr() == before.data_ptr()
        and data.dtype == before.dtype
        and data.numel() == before.numel()
        and data.is_contiguous()
        and data._version == version
    )
