"""The batched statistics equal the per-tensor computation, whatever the layers' shapes.

On CPU the multi-tensor kernels (``torch._foreach_norm``, ``torch._foreach_max``) loop over
the tensors in C++ with the very kernels ``t.norm(p)`` / ``t.max()`` use, so the values are
identical bit for bit (``torch.equal``), not merely close; the looped statistics are the
per-tensor call itself. (On CUDA ``_foreach_norm`` reduces in its own order: see
``tests/bus/test_bus_gpu.py``.)
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from unitrain.bus.subscribers.batched import (
    STATISTICS,
    batched_statistic,
    norm_order,
    single_statistic,
)
from unitrain.errors import ConfigError

PER_TENSOR = {
    "mean": torch.Tensor.mean,
    "sum": torch.Tensor.sum,
    "max": torch.Tensor.max,
    "min": torch.Tensor.min,
    "std": torch.Tensor.std,
    "variance": torch.Tensor.var,
}
NAMES = [*PER_TENSOR, "norm1", "norm2", "norm3", "norm0.5", "norminf"]

shapes = st.lists(st.integers(1, 7), min_size=0, max_size=4).map(tuple)


@st.composite
def layers(draw: st.DrawFn) -> list[torch.Tensor]:
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    tensors = []
    for shape in draw(st.lists(shapes, min_size=1, max_size=6)):
        values = torch.randn(shape, generator=generator, dtype=torch.float64) * scale + 0.5
        tensors.append(values.to(dtype))
    if draw(st.booleans()):  # a transposed view: not contiguous
        tensors.append(torch.randn(3, 5, generator=generator).to(dtype).t())
    return tensors


def reference(name: str, tensor: torch.Tensor) -> torch.Tensor:
    p = norm_order(name)
    return tensor.norm(p) if p is not None else PER_TENSOR[name](tensor)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")  # std of one element: nan
@settings(max_examples=150, deadline=None)
@given(tensors=layers(), name=st.sampled_from(NAMES))
def test_batched_equals_per_tensor_bit_for_bit(tensors: list[torch.Tensor], name: str) -> None:
    batched = batched_statistic(name)(tensors)
    single = single_statistic(name)
    assert len(batched) == len(tensors)
    for value, tensor in zip(batched, tensors, strict=True):
        expected = reference(name, tensor)
        for got in (value, single(tensor)):
            assert got.shape == () and got.dtype == expected.dtype
            assert torch.equal(got, expected) or (got.isnan() and expected.isnan())


def test_every_documented_statistic_is_known() -> None:
    for name in STATISTICS:
        batched_statistic(name.replace("<p>", "2"))
    assert norm_order("norminf") == float("inf") and norm_order("norm1.5") == 1.5
    assert norm_order("norm0") is None and norm_order("mean") is None


@pytest.mark.parametrize("name", ["median", "norm", "norm-1", "norm0", "Norm2", ""])
def test_unknown_statistics_are_refused(name: str) -> None:
    for make in (batched_statistic, single_statistic):
        with pytest.raises(ConfigError, match=r"where: unknown statistic"):
            make(name, "where")
