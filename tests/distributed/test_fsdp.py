"""FSDP2 (fully_shard) on two CPU processes with gloo: training and sharded checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from tests.distributed import _scenarios as s
from unitrain.distributed import FSDPStrategy, launch
from unitrain.distributed.strategy import make_strategy


def test_fsdp_trains_like_one_process_and_its_sharded_checkpoint_loads(tmp_path: Path) -> None:
    ranks: list[dict[str, Any]] = launch(
        s.fsdp_fit, "cpu:2", str(tmp_path / "sharded"), start_method="fork", timeout=90
    )
    one = s.make_trainer()
    one.fit(
        DataLoader(s.dataset(32), batch_size=16),
        eval_data=DataLoader(s.dataset(17), batch_size=8),
    )
    for rank in ranks:
        torch.testing.assert_close(rank["weights"], s.weights(one), atol=1e-6, rtol=0)
        assert rank["metrics"]["accuracy"] == one.state.eval_metrics["val"]["accuracy"]
        assert torch.equal(rank["loaded"], rank["weights"])  # the round trip is exact
        assert rank["step"] == 4
    assert sorted(p.suffix for p in (tmp_path / "sharded").iterdir()).count(".distcp") == 2


def test_strategy_names() -> None:
    assert isinstance(make_strategy("fsdp"), FSDPStrategy)
    assert make_strategy(FSDPStrategy(reshard_after_forward=False)).reshard_after_forward is False


def test_devices_with_fsdp_returns_the_trained_full_state_here() -> None:
    """``Trainer(devices="cpu:2", strategy="fsdp").fit()`` in a plain process: rank 0's full
    model (not a shard), optimizer state and metrics come back, equal to one process."""
    train = DataLoader(s.dataset(32), batch_size=8)
    evals = DataLoader(s.dataset(17, seed=2), batch_size=4)
    two = s.make_trainer(devices="cpu:2", strategy=FSDPStrategy(start_method="fork"))
    two.fit(train, eval_data=evals)
    one = s.make_trainer()
    one.fit(DataLoader(s.dataset(32), batch_size=16), eval_data=evals)
    assert all(type(p.data) is torch.Tensor for p in two.state.model.parameters())
    torch.testing.assert_close(s.weights(two), s.weights(one), atol=1e-6, rtol=0)
    assert two.state.global_step == one.state.global_step == 4
    assert two.state.eval_metrics["val"]["accuracy"] == one.state.eval_metrics["val"]["accuracy"]
    momentum = [
        v["momentum_buffer"] for v in two.state.optimizers[0].state_dict()["state"].values()
    ]
    expected = [
        v["momentum_buffer"] for v in one.state.optimizers[0].state_dict()["state"].values()
    ]
    for got, want in zip(momentum, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
