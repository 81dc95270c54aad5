"""Reading the rank variables of torchrun, srun and unitrain's launcher."""

from __future__ import annotations

import socket

import pytest

from unitrain.distributed import DistEnv, detect_env, free_port
from unitrain.errors import ConfigError


def test_no_variables_means_one_process() -> None:
    assert detect_env({}) == DistEnv()
    assert not detect_env({}).is_distributed


def test_torchrun_variables() -> None:
    env = detect_env(
        {
            "RANK": "3",
            "LOCAL_RANK": "1",
            "WORLD_SIZE": "4",
            "LOCAL_WORLD_SIZE": "2",
            "TORCHELASTIC_RUN_ID": "x",
        }
    )
    assert env == DistEnv(3, 1, 4, 2, "torchrun")
    assert env.is_distributed


def test_unitrain_launcher_is_recognised() -> None:
    env = detect_env({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "UNITRAIN_LAUNCHER": "1"})
    assert (env.launcher, env.local_world_size) == ("unitrain", 2)


def test_slurm_variables_when_torch_ones_are_absent() -> None:
    env = detect_env(
        {
            "SLURM_PROCID": "5",
            "SLURM_LOCALID": "1",
            "SLURM_NTASKS": "8",
            "SLURM_NTASKS_PER_NODE": "4(x2)",
        }
    )
    assert env == DistEnv(5, 1, 8, 4, "slurm")
    assert not detect_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).is_distributed


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "ranks must lie in"),
    ],
)
def test_contradictions_are_refused(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        detect_env(environ)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nobody holds it
    assert port > 0
