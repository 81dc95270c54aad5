"""Many nodes as users start them, on this one machine: two torchrun node agents meeting
through a c10d rendezvous on 127.0.0.1, and srun's variables faked for two tasks. Both run
the plain script unchanged and end where one process ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distributed.test_trainer import SCRIPT, check_weights_and_metrics
from unitrain.distributed import free_port

ROOT = Path(__file__).parents[2]
# what the launchers set; the test process must not pass its own on
_RANK_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _RANK_VARIABLES and not k.startswith("SLURM_")
    }
    # faulthandler: should a rank ever abort in C++ again, stderr holds every thread's stack
    env.update(
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        GLOO_SOCKET_IFNAME="lo",
        PYTHONFAULTHANDLER="1",
        **extra,
    )
    return env


def run_all(commands: list[tuple[list[str], dict[str, str]]]) -> None:
    """Start every command at once (they meet each other) and wait for all, bounded."""
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command, env in commands
    ]
    try:
        outputs = [process.communicate(timeout=240) for process in processes]
    finally:  # every pipe closed, also when one agent timed out before the others were read
        for process in processes:
            if process.poll() is None:
                process.kill()
            try:
                process.communicate(timeout=30)
            except (ValueError, subprocess.TimeoutExpired):
                pass
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]


@pytest.mark.slow
def test_two_torchrun_node_agents_with_a_c10d_rendezvous_equal_one_process(tmp_path: Path) -> None:
    port = free_port()
    agent = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}",
        f"--rdzv-id=unitrain-test-{port}",
        "--local-addr=127.0.0.1",
        str(SCRIPT),
        str(tmp_path),
        "none",
    ]
    run_all([(agent, clean_env()), (agent, clean_env())])
    check_weights_and_metrics(tmp_path)
    markers = sorted(p.name for p in tmp_path.iterdir() if "-rank" in p.name)
    # ranks=1 means local rank 1: with one process per node there is none
    assert markers == ["all-rank0", "all-rank1", "main-rank0"]


@pytest.mark.slow
def test_srun_variables_faked_for_two_tasks_equal_one_process(tmp_path: Path) -> None:
    port = str(free_port())
    tasks = []
    for task in range(2):
        env = clean_env(
            SLURM_PROCID=str(task),
            SLURM_LOCALID=str(task),
            SLURM_NTASKS="2",
            SLURM_NTASKS_PER_NODE="2",
            SLURM_JOB_ID="4242",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        tasks.append(([sys.executable, str(SCRIPT), str(tmp_path), "none"], env))
    run_all(tasks)
    check_weights_and_metrics(tmp_path)
    markers = sorted(p.name for p in tmp_path.iterdir() if "-rank" in p.name)
    assert markers == ["all-rank0", "all-rank1", "main-rank0", "one-rank1"]
