"""``utils.get_memory_stats`` (GPU memory per device) and ``utils.make_fill_polygons`` (the
fill under a 3-D line, from ikkuna's histogram plots)."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from unitrain.compat.ikkuna.utils import get_memory_stats, make_fill_polygons
from unitrain.errors import ConfigError

matplotlib.use("Agg")

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_without_cuda_there_are_no_devices() -> None:
    assert get_memory_stats() == {} and get_memory_stats("free", "gb") == {}


@needs_cuda
def test_the_figures_of_each_device_agree_with_torch() -> None:
    total_mb = get_memory_stats("total")
    assert sorted(total_mb) == list(range(torch.cuda.device_count()))
    for index, value in total_mb.items():
        exact = torch.cuda.get_device_properties(index).total_memory
        assert value == pytest.approx(exact / 1024**2, rel=0.02)
        assert get_memory_stats("total", "kb")[index] == value * 1024
    held = torch.empty(256 * 1024**2, dtype=torch.uint8, device="cuda:0")  # 256 MiB
    used, free = get_memory_stats("used")[0], get_memory_stats("free")[0]
    assert used >= 256 and used + free == pytest.approx(total_mb[0], abs=64)
    del held


@pytest.mark.parametrize(
    ("mode", "unit", "named"), [("peak", "mb", "mode"), ("used", "MB", "unit")]
)
def test_a_bad_mode_or_unit_is_named(mode: str, unit: str, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"{named}='?{mode if named == 'mode' else unit}"):
        get_memory_stats(mode, unit)


def test_fill_polygons_are_one_quadrilateral_per_segment_down_to_zero() -> None:
    collection = make_fill_polygons([0.0, 1.0, 2.0], [5.0, 5.0, 5.0], [1.0, 3.0, 2.0])
    # the 3-D corners as stored (matplotlib projects them to 2-D paths only when drawn)
    corners = [[tuple(c) for c in quad] for quad in collection._faces.tolist()]
    assert len(corners) == 2
    assert corners[0] == [(0, 5, 1), (1, 5, 3), (1, 5, 0), (0, 5, 0)]
    assert corners[1] == [(1, 5, 3), (2, 5, 2), (2, 5, 0), (1, 5, 0)]


def test_fill_polygons_need_coordinates_of_equal_length() -> None:
    with pytest.raises(ConfigError, match="2, 2 and 3"):
        make_fill_polygons([0, 1], [0, 1], [0, 1, 2])
