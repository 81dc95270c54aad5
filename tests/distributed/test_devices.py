"""Device strings: every accepted form, and a clear error for each bad one."""

from __future__ import annotations

import pytest
import torch

from unitrain.distributed import DeviceSpec, parse_devices
from unitrain.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "kind", "indices"),
    [
        ("cpu", "cpu", (0,)),
        ("cpu:2", "cpu", (0, 1)),
        ("CPU:3", "cpu", (0, 1, 2)),
        ("cuda:0", "cuda", (0,)),
        ("cuda:0,1", "cuda", (0, 1)),
        ("cuda:0-3", "cuda", (0, 1, 2, 3)),
        ("cuda:0-3,5", "cuda", (0, 1, 2, 3, 5)),
        ("cuda:5, 2", "cuda", (5, 2)),
    ],
)
def test_forms(text: str, kind: str, indices: tuple[int, ...]) -> None:
    spec = parse_devices(text)
    assert (spec.type, spec.indices, spec.world_size) == (kind, indices, len(indices))
    assert parse_devices(str(spec)) == spec  # the canonical form reads back


def test_each_local_rank_gets_its_device_and_backend() -> None:
    spec = parse_devices("cuda:2,5")
    assert [spec.device_for(r) for r in (0, 1)] == [
        torch.device("cuda", 2),
        torch.device("cuda", 5),
    ]
    assert spec.backend == "nccl" and parse_devices("cpu:2").backend == "gloo"
    assert parse_devices("cpu:2").device_for(1) == torch.device("cpu")
    with pytest.raises(ConfigError, match="local rank 2 has no device"):
        spec.device_for(2)


def test_an_int_is_a_process_count() -> None:
    spec = parse_devices(2)
    assert spec.world_size == 2
    assert spec.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert parse_devices(spec) is spec


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("gpu:0", "not a device string"),
        ("cuda:3-1", "runs backwards"),
        ("cuda:0,0", r"\[0\] listed twice"),
        ("cuda:0-2,1", r"\[1\] listed twice"),
        ("cuda:a", "not a device string"),
        ("cuda:1-", "not an index or a range"),
        ("cpu:0", "process count"),
        ("cpu:1,2", "process count"),
        (0, "must be >= 1"),
        (2.5, "got float"),
    ],
)
def test_bad_strings_say_what_is_expected(bad: object, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_devices(bad)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_missing_cuda_devices_are_named() -> None:
    with pytest.raises(ConfigError, match=r"CUDA device\(s\) \[0, 1\] do not exist.*'cpu:2'"):
        DeviceSpec("cuda", (0, 1)).check_available()
