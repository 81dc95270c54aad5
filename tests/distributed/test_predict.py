"""predict with several processes: each rank's own share, or gather=True for every row in
the order and batches of one process."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from tests.distributed import _scenarios as s
from unitrain.distributed import launch
from unitrain.distributed.gather import _join, _split
from unitrain.errors import ConfigError


def test_gather_returns_every_row_in_dataset_order_like_one_process() -> None:
    ranks: list[dict[str, Any]] = launch(
        s.predict_gathered, "cpu:2", start_method="fork", timeout=90
    )
    one = s.make_trainer()
    expected = one.predict(DataLoader(s.dataset(37, seed=3), batch_size=5))
    listed = one.predict([s.dataset(37, seed=3)[i : i + 6][0] for i in range(0, 37, 6)])
    assert [len(b) for b in expected] == [5, 5, 5, 5, 5, 5, 5, 2]  # 37 does not divide
    for rank in ranks:
        assert [b.shape[0] for b in rank["gathered"]] == [b.shape[0] for b in expected]
        torch.testing.assert_close(
            torch.cat(rank["gathered"]), torch.cat(expected), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(torch.cat(rank["fsdp"]), torch.cat(expected), atol=1e-6, rtol=0)
        assert len(rank["listed"]) == len(listed) == 7
        for got, want in zip(rank["listed"], listed, strict=True):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    # without gather each rank has its strided share: 19 and 18 of the 37 rows
    assert [sum(len(b) for b in r["own"]) for r in ranks] == [19, 18]
    torch.testing.assert_close(
        torch.cat(ranks[1]["own"]), torch.cat(expected)[1::2], atol=1e-6, rtol=0
    )


def test_structured_outputs_split_into_rows_and_join_back() -> None:
    output = {"logits": torch.arange(6.0).reshape(3, 2), "pair": (torch.arange(3), ["a", "b", "c"])}
    rows = _split(output, 3, "batch 0")
    assert rows[1]["pair"][1] == "b" and torch.equal(rows[2]["logits"], torch.tensor([4.0, 5.0]))
    joined = _join(output, rows)
    assert torch.equal(joined["logits"], output["logits"]) and joined["pair"][1] == ["a", "b", "c"]
    with pytest.raises(
        ConfigError, match=r"batch 0\['x'\] is a str, which cannot be split into its 3 rows"
    ):
        _split({"x": "text"}, 3, "batch 0")


def test_gather_in_one_process_changes_nothing() -> None:
    trainer = s.make_trainer()
    loader = DataLoader(s.dataset(7), batch_size=3)
    plain, gathered = trainer.predict(loader), trainer.predict(loader, gather=True)
    assert all(torch.equal(a, b) for a, b in zip(plain, gathered, strict=True))
