"""Batches: device moves, splitting plain batches, and the first-batch check."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

import unitrain as ut
from unitrain.core.batch import check_batch, move_to_device, split_batch


class Pair(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor


class Minibatch(ut.IMiniBatch):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y


META = torch.device("meta")


def test_move_to_device_keeps_the_structure() -> None:
    x, y = torch.ones(2, 3), torch.zeros(2)
    moved = move_to_device({"pair": Pair(x, y), "list": [x, (y, "tag")], "n": 3}, META)
    assert isinstance(moved["pair"], Pair) and moved["pair"].x.device == META
    assert isinstance(moved["list"], list) and isinstance(moved["list"][1], tuple)
    assert moved["list"][0].is_meta and moved["list"][1][0].is_meta
    assert moved["list"][1][1] == "tag" and moved["n"] == 3
    mb = Minibatch(x, y)
    assert move_to_device(mb, META) is mb and mb.x.is_meta and mb.y.is_meta


@pytest.mark.parametrize(
    ("batch", "inputs", "targets"),
    [
        (torch.ones(2), "t", None),
        ((torch.ones(2), torch.zeros(2)), "t", "t"),
        ([torch.ones(2)], "t", None),
        ({"input": torch.ones(2), "label": torch.zeros(2)}, "t", "t"),
        ({"x": torch.ones(2), "y": torch.zeros(2)}, "t", "t"),
        ({"inputs": torch.ones(2)}, "t", None),
    ],
    ids=["tensor", "tuple", "list", "input-label", "x-y", "inputs-only"],
)
def test_split_batch(batch: object, inputs: str, targets: str | None) -> None:
    got_inputs, got_targets = split_batch(batch)
    assert torch.equal(got_inputs, torch.ones(2))
    assert (got_targets is None) == (targets is None)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ((), "empty sequence"),
        ({"features": torch.ones(2)}, r"keys \['features'\]; expected an 'input'"),
        (3.5, "type float"),
    ],
)
def test_split_batch_errors(batch: object, match: str) -> None:
    with pytest.raises(ut.BatchError, match=match):
        split_batch(batch)


def test_check_batch_accepts_consistent_batches() -> None:
    x, y = torch.ones(4, 3), torch.zeros(4)
    for batch in (
        x,
        (x, y),
        [x, y],
        {"input": x, "target": y},
        Minibatch(x, y),
        (x, torch.ones(())),
    ):
        check_batch(batch, "here")


def test_check_batch_names_each_size() -> None:
    with pytest.raises(ut.BatchError, match=r"here: .*\(batch\.x: 4, batch\.y: 2\)"):
        check_batch(Minibatch(torch.ones(4, 3), torch.zeros(2)), "here")
    with pytest.raises(ut.BatchError, match=r"batch\[1\]\['b'\]: 1"):
        check_batch((torch.ones(2), {"a": torch.ones(2), "b": torch.ones(1)}), "here")


def test_check_batch_wants_a_minibatch_from_a_collate() -> None:
    with pytest.raises(ut.BatchError, match="collate returned list, expected an IMiniBatch"):
        check_batch([torch.ones(2)], "there", expect_minibatch=True)
    with pytest.raises(ut.BatchError, match="got a batch of type int"):
        check_batch(1, "there")


def test_a_minibatch_may_override_to_with_the_contract_signature() -> None:
    class Own(ut.IMiniBatch):  # t3w's contract: to(device)
        def __init__(self) -> None:
            self.x = torch.ones(2)
            self.moved_to: torch.device | None = None

        def to(self, device: torch.device | str) -> Own:  # type: ignore[override]
            self.moved_to = torch.device(device)
            return self

    mb = Own()
    assert move_to_device(mb, META) is mb and mb.moved_to == META
