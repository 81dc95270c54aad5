"""Spawning one process per device on a free port, with failures propagated.

:func:`launch` runs ``fn(*args)`` once per device of a device string, through torchelastic's
``start_processes`` (the machinery under torchrun). Every worker gets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1`` and a ``MASTER_PORT`` the OS picked
just before (never a fixed number), joins the process group (nccl on CUDA, after
``cuda.set_device``; gloo on the CPU), and runs ``fn``.

When a worker raises, torchelastic's ``record`` writes its traceback to the rank's error
file, the launcher stops every other worker (SIGTERM, then SIGKILL after a grace period), and
:func:`launch` raises :class:`WorkerError` naming the rank that failed *first* and carrying
its traceback: each worker stamps its failure, a rank killed by a signal is seen by its exit
code, and peers that only report a closed connection are consequences, not the cause (see
:mod:`unitrain.distributed.failures`); a hang verdict of the watchdog names the stuck rank.

A SIGTERM to the launching process is passed on to every worker (which, inside a fit, agree
on it, checkpoint and exit 143); :func:`launch` then raises
:class:`~unitrain.runs.signals.Preempted` (exit status 143), as a single process does.
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
from torch.distributed.elastic.multiprocessing.api import PContext, RunProcsResult

from unitrain.distributed.devices import DeviceSpec, parse_devices
from unitrain.distributed.env import detect_env, free_port
from unitrain.distributed.failures import find_cause, read_stamps, write_stamp
from unitrain.distributed.group import ensure_process_group, leave_process_group
from unitrain.errors import ConfigError, WorkerError
from unitrain.runs.signals import Preempted

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
        result, first_dead = _wait(context, timeout)
        if result is None:
            context.close(timeout=_GRACE_S)
            raise WorkerError(
                f"launch({getattr(fn, '__name__', fn)!r}, devices={str(spec)!r}): the workers "
                f"did not finish within timeout={timeout} s and were stopped"
            )
        if result.is_failed():
            codes = _exit_codes(context)
            raise _failure(result, context.error_files, Path(workdir), spec, codes, first_dead)
        return [result.return_values[rank] for rank in range(spec.world_size)]
    except SignalException as interrupt:
        # the workers get the signal: under a fit each one agrees on it with the others,
        # commits the checkpoint and exits 143 (within the grace; then they are killed)
        context.close(interrupt.sigval, timeout=_GRACE_S)
        if interrupt.sigval == signal.SIGTERM:
            raise Preempted(signal.SIGTERM) from None  # exit status 143, as in one process
        raise KeyboardInterrupt(f"launch interrupted by {interrupt.sigval.name}") from None
    finally:
        # torchelastic installs its own handlers in this process and never restores them
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait(context: PContext, timeout: float | None) -> tuple[RunProcsResult | None, list[int]]:
    """Wait for the workers; also note the ranks that die of a signal before the others
    are stopped (the poll that sees a failure stops the rest at once, with SIGTERM)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    first_dead: list[int] = []
    while deadline is None or time.monotonic() < deadline:
        for rank, code in _exit_codes(context).items():
            if code is not None and code < 0 and rank not in first_dead:
                first_dead.append(rank)
        result = context.wait(timeout=0)
        if result is not None:
            return result, first_dead
        time.sleep(0.05)
    return None, first_dead


def _exit_codes(context: PContext) -> dict[int, int | None]:
    # torchelastic keeps the worker processes in its (private) process context
    processes = getattr(getattr(context, "_pc", None), "processes", None) or []
    return {rank: getattr(process, "exitcode", None) for rank, process in enumerate(processes)}


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
        write_stamp(os.environ["UNITRAIN_FAILURE_DIR"], env.rank, error)
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
    result: RunProcsResult,
    error_files: dict[int, str],
    workdir: Path,
    spec: DeviceSpec,
    exit_codes: dict[int, int | None],
    first_dead: list[int],
) -> WorkerError:
    seen = next(iter(result.failures.values()))  # torchelastic's pick: the first exit it saw
    cause = find_cause(read_stamps(workdir), exit_codes, first_dead)
    if cause is None:
        rank, how, also = seen.local_rank, f"failed (exit code {seen.exitcode})", ""
        detail = str(seen.message)
    else:
        rank, how = cause.rank, cause.how
        also = ""
        if cause.consequences:
            also = f"; rank(s) {list(cause.consequences)} failed after it, as a consequence"
            if cause.consequence_detail:
                also += f" ({cause.consequence_detail})"
        detail = cause.message or _traceback_of(error_files.get(rank, ""))
        if not detail and rank == seen.local_rank:
            detail = str(seen.message)
        detail = detail or "(no traceback: the process was killed before it could write one)"
    error = WorkerError(
        f"rank {rank} of the {spec.world_size} workers on devices={str(spec)!r} {how}{also}; "
        f"every worker was stopped. Traceback of rank {rank}:\n{detail}"
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
