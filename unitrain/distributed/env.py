"""Where this process stands in a distributed run, read from the environment.

torchrun (and unitrain's own launcher) set ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every worker. SLURM's ``srun``
sets ``SLURM_PROCID`` / ``SLURM_LOCALID`` / ``SLURM_NTASKS``, which are used when the torch
variables are absent. Without any of them the process runs alone and no process group is
made.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from unitrain.errors import ConfigError

__all__ = ["DistEnv", "detect_env", "free_port"]


@dataclass(frozen=True, slots=True)
class DistEnv:
    """The rank coordinates of this process; ``launcher`` says who started it."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    launcher: str = "none"  # "none" | "torchrun" | "unitrain" | "slurm"

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def detect_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Read the rank coordinates; raise ConfigError when they contradict each other."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" in env or "RANK" in env:
        launcher = "unitrain" if "UNITRAIN_LAUNCHER" in env else "torchrun"
        if "TORCHELASTIC_RUN_ID" in env and "UNITRAIN_LAUNCHER" not in env:
            launcher = "torchrun"
        found = _ints(env, ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"))
        world = found.get("WORLD_SIZE", 1)
        local_world = found.get("LOCAL_WORLD_SIZE", world)
    elif "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        launcher = "slurm"
        slurm = _ints(env, ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS"))
        found = {
            "RANK": slurm.get("SLURM_PROCID", 0),
            "LOCAL_RANK": slurm.get("SLURM_LOCALID", 0),
        }
        world = slurm.get("SLURM_NTASKS", 1)
        local_world = int(env.get("SLURM_NTASKS_PER_NODE", str(world)).split("(")[0])
    else:
        return DistEnv()
    rank, local_rank = found.get("RANK", 0), found.get("LOCAL_RANK", 0)
    if not (0 <= rank < world) or not (0 <= local_rank < local_world):
        raise ConfigError(
            f"the environment says RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world}, "
            f"LOCAL_WORLD_SIZE={local_world}: ranks must lie in [0, size); check the launcher "
            "command (torchrun --nnodes/--nproc-per-node, or srun --ntasks)"
        )
    return DistEnv(rank, local_rank, world, local_world, launcher)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it; never a fixed number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ints(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    for name in names:
        if name in env:
            try:
                values[name] = int(env[name])
            except ValueError:
                raise ConfigError(
                    f"environment variable {name}={env[name]!r} is not an integer; it is set by "
                    "the launcher (torchrun, srun): unset it or fix the launch command"
                ) from None
    return values
