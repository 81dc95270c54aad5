"""FSDP2 (fully_shard) on two CPU processes with gloo: training and sharded checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from tests.distributed import _scenarios as s
from unitrain.distributed import FSDPStrategy, launch, load_sharded
from unitrain.distributed.checkpoint import verify_sharded
from unitrain.distributed.strategy import make_strategy
from unitrain.errors import CheckpointError


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
    # committed by the checkpoint protocol: a manifest hashes both shards and DCP's metadata
    path = Path(ranks[0]["path"])
    assert path == tmp_path / "sharded" / "step-000000004"
    manifest = verify_sharded(path)
    assert sorted(manifest["files"]) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert manifest["kind"] == "torch.distributed.checkpoint" and manifest["world_size"] == 2
    assert not [p for p in (tmp_path / "sharded").iterdir() if ".tmp-" in p.name]
    # DCP reshards: the 2-process checkpoint loads into one plain process when asked to
    alone = s.make_trainer()
    alone.make_optimizers()
    with pytest.raises(CheckpointError, match=r"written by 2 process\(es\) and this run has 1"):
        load_sharded(alone.state, path)
    load_sharded(alone.state, path, reshard=True)
    assert torch.equal(s.weights(alone), ranks[0]["weights"])
    assert alone.state.global_step == 4
    momentum = alone.state.optimizers[0].state_dict()["state"][0]["momentum_buffer"]
    assert momentum.shape == (8, 6)  # the whole optimizer state, gathered from both shards


def test_a_damaged_shard_is_refused_before_loading(tmp_path: Path) -> None:
    ranks = launch(s.fsdp_fit, "cpu:2", str(tmp_path / "sharded"), start_method="fork", timeout=90)
    path = Path(ranks[0]["path"])
    shard = path / "__1_0.distcp"
    shard.write_bytes(shard.read_bytes()[:-1] + b"x")
    alone = s.make_trainer()
    alone.make_optimizers()
    with pytest.raises(CheckpointError, match=r"__1_0.distcp is corrupt"):
        load_sharded(alone.state, path, reshard=True)


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
