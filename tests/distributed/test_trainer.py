"""The trainer's devices= / strategy= options: spawning from a plain script, evaluating on
two ranks, and the errors for contradictory settings."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import unitrain as ut
from tests.distributed import _scenarios as s
from unitrain.distributed import DDPStrategy
from unitrain.errors import CheckpointError, ConfigError

SCRIPT = Path(__file__).parent / "scripts" / "plain_devices.py"
ROOT = Path(__file__).parents[2]


def run_script(folder: Path, *command: str) -> dict[str, Any]:
    """Run the plain script (under ``command``, e.g. torchrun) and read rank 0's result."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [*(command or (sys.executable,)), str(SCRIPT), str(folder), *_extra(command)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,  # two new interpreters import torch on a busy machine
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    return result


def _extra(command: tuple[str, ...]) -> list[str]:
    return ["none"] if command else []  # under torchrun the script passes devices=None


def one_process(folder: Path) -> Any:
    """The same script's trainer, fitted here in one process."""
    script = runpy.run_path(str(SCRIPT))
    folder.mkdir()
    one = script["make_trainer"](str(folder), "cpu")
    data = script["data"]
    one.fit(DataLoader(data(32, 1), batch_size=16), DataLoader(data(17, 2), batch_size=4))
    return one


def check_weights_and_metrics(folder: Path) -> None:
    """The script's result.json (rank 0's) equals the same script fitted in one process."""
    result = json.loads((folder / "result.json").read_text())
    one = one_process(folder / "one")
    weights = torch.cat([p.detach().flatten() for p in one.state.model.parameters()])
    torch.testing.assert_close(torch.tensor(result["weights"]), weights, atol=1e-6, rtol=0)
    assert result["global_step"] == one.state.global_step == 4
    assert result["val"]["accuracy"] == one.state.eval_metrics["val"]["accuracy"]


def check_like_one_process(result: dict[str, Any], folder: Path) -> None:
    one = one_process(folder / "one")
    weights = torch.cat([p.detach().flatten() for p in one.state.model.parameters()])
    torch.testing.assert_close(torch.tensor(result["weights"]), weights, atol=1e-6, rtol=0)
    assert result["global_step"] == one.state.global_step == 4
    assert result["val"]["accuracy"] == one.state.eval_metrics["val"]["accuracy"]
    markers = sorted(p.name for p in folder.iterdir() if "-rank" in p.name)
    assert markers == ["all-rank0", "all-rank1", "main-rank0", "one-rank1"]
    assert (folder / "main-rank0").read_text() == "2"  # the world size seen by rank 0


@pytest.mark.slow
def test_a_plain_script_spawns_two_ranks_from_a_device_string(tmp_path: Path) -> None:
    check_like_one_process(run_script(tmp_path), tmp_path)


@pytest.mark.slow
def test_the_same_script_runs_under_torchrun(tmp_path: Path) -> None:
    torchrun = (
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    )
    check_like_one_process(run_script(tmp_path, *torchrun), tmp_path)


def test_evaluate_on_two_forked_ranks_equals_one_process() -> None:
    evals = DataLoader(s.dataset(17, seed=2), batch_size=4)
    two = s.make_trainer(devices="cpu:2", strategy=DDPStrategy(start_method="fork"))
    one = s.make_trainer()
    assert two.evaluate(evals)["accuracy"] == one.evaluate(evals)["accuracy"]


def test_device_and_devices_together_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"device= .* or devices= .*not both"):
        s.make_trainer(device="cpu", devices="cpu:2")


def test_an_unknown_strategy_or_bad_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"strategy=.deepspeed.*.ddp., .fsdp."):
        s.make_trainer(strategy="deepspeed")
    with pytest.raises(ConfigError, match=r"agree_every=0"):
        DDPStrategy(agree_every=0)
    with pytest.raises(ConfigError, match=r"start_method='thread'"):
        DDPStrategy(start_method="thread")


def test_unpicklable_arguments_are_explained_before_spawning() -> None:
    model = torch.nn.Linear(2, 2)
    task = ut.Task(model, loss=torch.nn.MSELoss(), optimizer=lambda p: torch.optim.SGD(p, 0.1))
    trainer = ut.Trainer(task, max_epochs=1, devices="cpu:2")
    with pytest.raises(ConfigError, match=r"cpu:2.*pickling.*functools.partial"):
        trainer.fit([(torch.ones(2, 2), torch.ones(2, 2))])


def test_a_single_process_refuses_a_two_process_checkpoint() -> None:
    trainer = s.make_trainer()
    trainer.make_optimizers()
    checkpoint = trainer.state_dict()
    assert checkpoint["plugins"]["distributed"] == {"world_size": 1}
    checkpoint["plugins"]["distributed"]["world_size"] = 2
    checkpoint["model"] = {k: v + 1 for k, v in checkpoint["model"].items()}
    fresh = s.make_trainer()
    before = s.weights(fresh)
    with pytest.raises(CheckpointError, match=r"run of 2 process\(es\), and this run has 1"):
        fresh.load_state_dict(checkpoint)
    assert torch.equal(s.weights(fresh), before)  # refused before anything was loaded


def test_without_the_distributed_entry_the_engines_world_size_is_refused_too() -> None:
    trainer = s.make_trainer()
    trainer.make_optimizers()
    checkpoint = trainer.state_dict()
    del checkpoint["plugins"]["distributed"]  # e.g. that plugin was unregistered
    checkpoint["world_size"] = 2
    checkpoint["model"] = {k: v + 1 for k, v in checkpoint["model"].items()}
    fresh = s.make_trainer()
    before = s.weights(fresh)
    with pytest.raises(CheckpointError, match=r"run of 2 process\(es\), and this run has 1"):
        fresh.load_state_dict(checkpoint)
    assert torch.equal(s.weights(fresh), before)  # one rule on both sides: refused up front


def test_one_device_string_runs_here_on_that_device() -> None:
    trainer = s.make_trainer(devices="cpu")
    assert trainer.state.device == torch.device("cpu")
    assert not trainer.distributed.spawns and not trainer.distributed.active
    assert type(trainer.plugins.get("distributed")).__name__ == "WorldSizeCheck"
