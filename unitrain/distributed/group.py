"""Making (and tearing down) the default process group for this process.

Order matters on CUDA: ``torch.cuda.set_device`` comes before ``init_process_group`` so that
nccl binds each rank to its own device (t3w learnt this the hard way). Backends: nccl for
CUDA, gloo for the CPU. The rendezvous is ``env://`` (``MASTER_ADDR`` / ``MASTER_PORT``),
which torchrun and unitrain's launcher both set.
"""

from __future__ import annotations

import atexit
import os
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from unitrain.distributed.env import DistEnv
from unitrain.errors import ConfigError

__all__ = ["control_group", "ensure_process_group", "leave_process_group"]

DEFAULT_TIMEOUT = timedelta(minutes=10)
_CONTROL: dict[str, dist.ProcessGroup | None] = {}
_LEFT_AT_EXIT: list[bool] = []  # non-empty once leave_process_group is an exit handler


def ensure_process_group(
    env: DistEnv, device: torch.device, timeout: timedelta | None = None
) -> bool:
    """Join the default process group unless it exists; return True when this call made it.

    ``device`` is this rank's device; on CUDA it becomes the current device first.
    """
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        if dist.get_world_size() != env.world_size:
            raise ConfigError(
                f"a process group of {dist.get_world_size()} processes exists, but the "
                f"environment says WORLD_SIZE={env.world_size}; make them agree"
            )
        return False
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ConfigError(
            f"rank {env.rank} of {env.world_size} ({env.launcher}) cannot meet its peers: "
            f"{', '.join(missing)} not set. torchrun sets them; under srun export "
            "MASTER_ADDR=<first node's host name> and MASTER_PORT=<free port> in the job script"
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=env.rank,
        world_size=env.world_size,
        timeout=timeout or DEFAULT_TIMEOUT,
        device_id=device if device.type == "cuda" else None,
    )
    if not _LEFT_AT_EXIT:  # see _leave_at_exit; runs after the watchdog's (registered later)
        atexit.register(_leave_at_exit)
        _LEFT_AT_EXIT.append(True)
    return True


def control_group() -> dist.ProcessGroup | None:
    """A CPU (gloo) group for small control messages such as stop flags.

    On gloo this is the default group. On nccl a gloo group is made once, so agreeing on a
    flag never waits for the GPU stream (no host-device sync on the hot path).
    """
    if dist.get_backend() == "gloo":
        return None  # the default group
    key = "gloo"
    if key not in _CONTROL:
        _CONTROL[key] = dist.new_group(backend="gloo")
    return _CONTROL[key]


def leave_process_group() -> None:
    """Destroy the default process group (and the control group) if they exist."""
    _CONTROL.clear()
    if dist.is_initialized():
        dist.destroy_process_group()


def _leave_at_exit() -> None:
    """Leave the group a Trainer made, and give gloo's threads time to let go of tensors.

    A gloo worker thread drops its reference to a finished collective *after* the caller's
    ``wait()`` returned; when that frees a tensor made in Python it must take the GIL. If the
    interpreter is finalizing by then, taking the GIL ends the thread inside C++, which
    aborts the process: "terminate called without an active exception" from a rank whose
    run had succeeded (seen under load; pytorch/pytorch#190489). Sleeping here, while the
    interpreter is still whole, releases the GIL so such a thread can finish; 0.25 s covers
    a thread starved by a loaded machine, once per process that trained distributed.
    """
    leave_process_group()
    time.sleep(0.25)
