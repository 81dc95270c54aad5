"""FSDP2 checkpoints through the Checkpoint plugin: gathered whole (torch.distributed.
checkpoint's state_dict helpers), resumed bit for bit, loadable in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from tests.distributed import _scenarios as s
from unitrain.distributed import launch
from unitrain.errors import CheckpointError
from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint, verify_checkpoint

ROOT = Path(__file__).parents[2]

FRESH = """
import json, sys
import torch
from unitrain.runs.checkpoint import load_checkpoint
state = load_checkpoint(sys.argv[1])["state"]
model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                            torch.nn.Linear(8, 2))
model.load_state_dict(state["model"])
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
momentum = [v["momentum_buffer"].shape[0] for v in state["optimizers"][0]["state"].values()]
print(json.dumps({"weights": flat.tolist(), "momentum": momentum,
                  "dtensor": "torch.distributed.tensor" in sys.modules}))
"""


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    folder = tmp_path_factory.mktemp("fsdp") / "checkpoints"
    ranks = launch(s.fsdp_resume, "cpu:2", str(folder), start_method="fork", timeout=180)
    return ranks, folder


def test_a_resumed_fsdp_run_equals_the_uninterrupted_one_bit_for_bit(
    fsdp_run: tuple[list[dict[str, Any]], Path],
) -> None:
    ranks, _ = fsdp_run
    for rank in ranks:
        assert rank["step"] == 4
        assert torch.equal(rank["resumed"], rank["straight"])
        assert not torch.equal(rank["first"], rank["straight"])  # the resume did train on
    assert torch.equal(ranks[0]["resumed"], ranks[1]["resumed"])


def test_the_fsdp_checkpoint_is_whole_verified_and_loads_in_a_fresh_process(
    fsdp_run: tuple[list[dict[str, Any]], Path],
) -> None:
    ranks, folder = fsdp_run
    second = [p for p in list_checkpoints(folder) if p.name == "step-000000002"]
    assert second, sorted(p.name for p in folder.iterdir())
    verify_checkpoint(second[0])  # the manifest covers the file: hashes and sizes match
    state = load_checkpoint(second[0])["state"]
    assert state["model"]["0.weight"].shape == (8, 6)  # whole, not rank 0's (4, 6) shard
    assert all(type(v) is torch.Tensor for v in state["model"].values())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(second[0])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert torch.equal(torch.tensor(loaded["weights"]), ranks[0]["first"])
    assert loaded["momentum"] == [8, 8, 2, 2]  # full optimizer state, by parameter id
    assert loaded["dtensor"] is False  # nothing in the file needs torch.distributed.tensor


def test_another_world_size_is_refused_with_both_sizes_named(
    fsdp_run: tuple[list[dict[str, Any]], Path],
) -> None:
    _, folder = fsdp_run
    state = load_checkpoint(folder / "step-000000002")["state"]
    one = s.make_trainer(dropout=0.3)
    with pytest.raises(CheckpointError, match=r"run of 2 process\(es\), and this run has 1"):
        one.load_state_dict(state)
    one.state.model.load_state_dict(state["model"])  # the weights alone, as the error says


def test_a_shard_alone_or_a_half_reduced_window_is_refused() -> None:
    ranks = launch(s.fsdp_refusals, "cpu:2", start_method="fork", timeout=90)
    for rank, refused in enumerate(ranks):
        assert f"trainer.state_dict() on rank {rank} alone under FSDP" in refused["alone"]
        assert "full_state_dict(trainer) on every rank" in refused["alone"]
        assert "inside a gradient-accumulation window" in refused["mid_window"]
    # and the accumulated FSDP run (reduce-scatter once per window) equals one process
    one = s.make_trainer(accumulation=2, max_epochs=1)
    one.fit(DataLoader(s.dataset(32), batch_size=8))
    for refused in ranks:
        torch.testing.assert_close(refused["accumulated"], s.weights(one), atol=1e-6, rtol=0)
