"""t3w device strings: every accepted form, and a clear error for malformed ones."""

from __future__ import annotations

import pytest
import torch

from unitrain.compat.t3w.devices import parse_devices
from unitrain.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cpu", ["cpu"]),
        ("cuda", ["cuda"]),
        ("cuda:1", ["cuda:1"]),
        ("cuda:0,1", ["cuda:0", "cuda:1"]),
        ("cuda:0-3", ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]),
        ("cuda:0-1,3", ["cuda:0", "cuda:1", "cuda:3"]),
        ("cpu:2", ["cpu", "cpu"]),
        ("cpu:1", ["cpu"]),
        (2, ["cuda:2"]),
        (torch.device("cpu"), ["cpu"]),
    ],
)
def test_accepted_forms(spec: object, expected: list[str]) -> None:
    assert parse_devices(spec) == [torch.device(d) for d in expected]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("gpu:0", "'cpu' or 'cuda'"),
        ("cuda:", "neither an index nor a range"),
        ("cuda:a", "neither an index nor a range"),
        ("cuda:0,,1", "neither an index nor a range"),
        ("cuda:3-1", "runs backwards"),
        ("cuda:0,0", "listed twice"),
        ("cpu:0", "process count"),
        ("cpu:1,2", "process count"),
    ],
)
def test_malformed_strings_name_the_string_and_the_accepted_forms(spec: str, why: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_devices(spec)
    message = str(raised.value)
    assert repr(spec) in message and why in message and "'cuda:0-3'" in message


def test_non_strings_are_refused() -> None:
    with pytest.raises(ConfigError, match="expected a device string"):
        parse_devices(1.5)  # type: ignore[arg-type]
