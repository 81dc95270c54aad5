"""Spawning one process per device on a free port, with failures propagated.

:func:`launch` runs ``fn(*args)`` once per device of a device string, through torchelastic's
``start_processes`` (the machinery under torchrun). Every worker gets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1`` and a ``MASTER_PORT`` the OS picked
just before (never a fixed number), joins the process group (nccl on CUDA, after
``cuda.set_device``; gloo on the CPU), and runs ``fn``.

When a worker raises, torchelastic's ``record`` writes its traceback to the rank's error
file, the launcher stops every other worker (SIGTERM, then SIGKILL after a grace period), and
:func:`launch` raises :class:`WorkerError` naming the rank that failed *first* (each worker
also stamps the moment it failed, so the root cause wins over the peers that failed because
it was gone) and carrying that rank's traceback.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch.distributed.elastic.multiprocessing import (
    DefaultLogsSpecs,
    SignalException,
    Std,
    start_processes,
)
from torch.distributed.elastic.multiprocessing.api import RunProcsResult

from unitrain.distributed.devices import DeviceSpec, parse_devices
from unitrain.distributed.env import detect_env, free_port
from unitrain.distributed.group import ensure_process_group, leave_process_group
from unitrain.errors import ConfigError, WorkerError

__all__ = ["launch"]

T = TypeVar("T")
_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
_GRACE_S = 30  # torchelastic's grace between SIGTERM and SIGKILL when a worker fails


def launch(
    fn: Callable[..., T],
    devices: str | int | DeviceSpec,
    *args: Any,
    start_method: str = "spawn",
    timeout: float | None = None,
) -> list[T]:
    """Run ``fn(*args)`` in one process per device and return each rank's result, by rank.

    ``devices`` is a device string (``"cpu:2"``, ``"cuda:0,1"``, ``"cuda:0-3,5"``) or a
    process count. Inside ``fn`` the default process group is ready and, on CUDA, the rank's
    device is the current device. A single device runs ``fn`` here, in this process, with no
    process group. ``start_method`` is ``"spawn"`` (the default: ``fn`` and ``args`` must be
    picklable and ``fn`` importable, so guard the script with ``if __name__ == "__main__"``)
    or ``"fork"`` (CPU only; nothing is pickled). ``timeout`` bounds the whole run in seconds.

    Raises :class:`~unitrain.errors.WorkerError` naming the first failing rank, with its
    traceback, once every worker has stopped.
    """
    spec = parse_devices(devices)
    spec.check_available()
    if spec.world_size == 1:
        return [fn(*args)]
    if start_method not in ("spawn", "fork", "forkserver"):
        raise ConfigError(f"launch(start_method={start_method!r}): expected 'spawn' or 'fork'")
    if start_method == "fork" and spec.type == "cuda":
        raise ConfigError("launch: CUDA cannot be used in forked workers; use start_method='spawn'")
    # pickled here with plain pickle: torch's multiprocessing pickler would put tensors in
    # shared memory, and every rank would then train the very same parameters
    # (forked workers inherit copies of everything: nothing is pickled)
    work = (None, fn, args) if start_method == "fork" else (_pickled(fn, args, spec), None, ())
    workdir = tempfile.mkdtemp(prefix="unitrain-launch-")
    envs = _worker_envs(spec, workdir)
    saved = {name: signal.getsignal(getattr(signal, name)) for name in _SIGNALS}
    context = start_processes(
        name="unitrain",
        entrypoint=_worker,
        args={rank: (str(spec), *work) for rank in range(spec.world_size)},
        envs=envs,
        logs_specs=DefaultLogsSpecs(log_dir=workdir, redirects=Std.NONE, tee=Std.NONE),
        start_method=start_method,
    )
    try:
        result = context.wait(timeout=-1 if timeout is None else timeout, period=0.05)
        if result is None:
            context.close(timeout=_GRACE_S)
            raise WorkerError(
                f"launch({getattr(fn, '__name__', fn)!r}, devices={str(spec)!r}): the workers "
                f"did not finish within timeout={timeout} s and were stopped"
            )
        if result.is_failed():
            raise _failure(result, context.error_files, Path(workdir), spec)
        return [result.return_values[rank] for rank in range(spec.world_size)]
    except SignalException as interrupt:
        context.close(interrupt.sigval, timeout=_GRACE_S)
        raise KeyboardInterrupt(f"launch interrupted by {interrupt.sigval.name}") from None
    finally:
        # torchelastic installs its own handlers in this process and never restores them
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)
        shutil.rmtree(workdir, ignore_errors=True)


def _worker(
    devices: str, payload: bytes | None, fn: Callable[..., Any] | None, args: tuple[Any, ...]
) -> Any:
    """Entry point of one worker: join the group, run ``fn``, stamp a failure's time."""
    env = detect_env()
    # OMP_NUM_THREADS is 1 unless the caller set it (as torchrun does). Applied here as well
    # for forked workers: GNU OpenMP is not fork-safe, and a worker forked from a parent that
    # already ran parallel kernels waits forever in its first one unless it runs one thread.
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    for name in _SIGNALS:  # a forked worker inherits torchelastic's handlers from the parent
        default = signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL
        signal.signal(getattr(signal, name), default)
    try:
        if payload is not None:
            fn, args = pickle.loads(payload)
        assert fn is not None
        ensure_process_group(env, parse_devices(devices).device_for(env.local_rank))
        result = fn(*args)
    except BaseException as error:
        stamp = Path(os.environ["UNITRAIN_FAILURE_DIR"]) / f"rank-{env.rank}.json"
        stamp.write_text(
            json.dumps({"rank": env.rank, "time_ns": time.time_ns(), "type": type(error).__name__})
        )
        raise
    leave_process_group()
    return result


def _worker_envs(spec: DeviceSpec, workdir: str) -> dict[int, dict[str, str]]:
    port = str(free_port())
    world = str(spec.world_size)
    common = {
        "WORLD_SIZE": world,
        "LOCAL_WORLD_SIZE": world,
        "GROUP_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
        "UNITRAIN_LAUNCHER": "1",
        "UNITRAIN_DEVICES": str(spec),
        "UNITRAIN_FAILURE_DIR": workdir,
        "TORCHELASTIC_RUN_ID": f"unitrain-{port}",
    }
    common["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")  # as torchrun does
    if sys.platform.startswith("linux") and "GLOO_SOCKET_IFNAME" not in os.environ:
        common["GLOO_SOCKET_IFNAME"] = "lo"  # one node: loopback; avoids hostname lookups
    return {
        rank: {**common, "RANK": str(rank), "LOCAL_RANK": str(rank)}
        for rank in range(spec.world_size)
    }


def _failure(
    result: RunProcsResult, error_files: dict[int, str], workdir: Path, spec: DeviceSpec
) -> WorkerError:
    stamps = []
    for path in workdir.glob("rank-*.json"):
        try:
            stamps.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a worker killed mid-write: its exit code still tells
    stamps.sort(key=lambda s: int(s["time_ns"]))
    # the first rank to fail is the cause; torchelastic reports whichever exit it saw first
    seen = next(iter(result.failures.values()))
    rank = int(stamps[0]["rank"]) if stamps else seen.local_rank
    detail = _traceback_of(error_files.get(rank, ""))
    if not detail:
        detail = str(seen.message) if rank == seen.local_rank else "(no traceback recorded)"
    status = f"exit code {seen.exitcode}" if rank == seen.local_rank else "raised"
    others = sorted({int(s["rank"]) for s in stamps[1:]} - {rank})
    also = f"; rank(s) {others} failed after it" if others else ""
    error = WorkerError(
        f"rank {rank} of the {spec.world_size} workers on devices={str(spec)!r} failed "
        f"({status}){also}; every worker was stopped. Traceback of rank {rank}:\n{detail}"
    )
    error.rank, error.worker_traceback = rank, detail
    return error


def _traceback_of(error_file: str) -> str:
    """The traceback torchelastic's ``record`` wrote to a rank's error file."""
    try:
        data = json.loads(Path(error_file).read_text())
    except (OSError, ValueError):
        return ""
    message = data.get("message", "")
    if isinstance(message, dict):
        return str(message.get("extraInfo", {}).get("py_callstack") or message.get("message", ""))
    return str(message)


def _pickled(fn: Callable[..., Any], args: tuple[Any, ...], spec: DeviceSpec) -> bytes:
    try:
        return pickle.dumps((fn, args))
    except Exception as error:
        raise ConfigError(
            f"devices={str(spec)!r} starts {spec.world_size} new processes (start_method "
            f"'spawn'), which receive the function and everything passed to it by pickling, "
            f"but that failed: {error}. Define functions at module level (no lambdas or local "
            "functions; use functools.partial), guard the script with "
            "`if __name__ == '__main__':`, or start the script with torchrun instead"
        ) from error
