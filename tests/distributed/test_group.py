"""Joining and leaving the default process group (unitrain/distributed/group.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from unitrain.distributed import free_port

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import atexit
    import torch
    import torch.distributed as dist
    from unitrain.distributed.env import DistEnv
    from unitrain.distributed.group import ensure_process_group

    env = DistEnv(rank=0, local_rank=0, world_size=1, local_world_size=1, launcher="slurm")
    made = ensure_process_group(env, torch.device("cpu"))
    again = ensure_process_group(env, torch.device("cpu"))
    assert (made, again, dist.is_initialized()) == (True, False, True)
    atexit._run_exitfuncs()  # what the interpreter runs before it tears down
    print("after exit handlers:", dist.is_initialized())
    """
)


def test_a_group_unitrain_made_is_destroyed_by_the_exit_handlers() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "PYTHONFAULTHANDLER": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "after exit handlers: False" in done.stdout
