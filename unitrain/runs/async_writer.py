"""Checkpoints written off the training thread: a CPU snapshot, then one background writer.

:func:`snapshot_to_cpu` copies every tensor of a checkpoint to fresh CPU memory (pinned when
the tensor is on CUDA, so the copy is a DMA; one device synchronisation at the end) and every
other leaf with :func:`copy.deepcopy`. The training thread may then change the live tensors
freely: the snapshot is what the step boundary held, bit for bit. The same tensor object met
twice (tied weights) is copied once, so the snapshot keeps that sharing. Given the previous
snapshot (``reuse``, whose write is finished), tensors of the same shape, stride and dtype
at the same place are copied **into** its buffers: fresh memory costs page faults on first
touch (measured: about 5x the copy itself), so the steady state is one memcpy per tensor, at
the price of keeping one CPU copy of the state between saves.

:class:`BackgroundWriter` runs **one job at a time** in a daemon thread. The policy for a
save while one is in flight is to **wait** for it (:meth:`BackgroundWriter.wait` before
:meth:`BackgroundWriter.submit`): a skipped save would silently lose a trigger (a best
metric, a SIGTERM), so the training thread stalls instead; writes are never interleaved.
A job's error is kept and raised on the training thread by the next :meth:`wait` (the next
save, the fit's end), as :class:`~unitrain.errors.CheckpointError` naming the checkpoint.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import torch

from unitrain.errors import CheckpointError

__all__ = ["BackgroundWriter", "snapshot_to_cpu"]


def snapshot_to_cpu(obj: Any, reuse: Any = None) -> Any:
    """A deep copy of ``obj`` whose tensors are CPU tensors no one else holds (module doc).

    ``reuse``: a previous snapshot no longer used by anyone; its tensors may be overwritten.
    """
    memo: dict[int, Any] = {}
    copied = _copy(obj, memo, reuse, set())
    if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]  # pragma: no cover
        torch.cuda.synchronize()  # the non-blocking device→host copies are complete
    return copied


#: Immutable leaves: shared, not copied (a data order holds thousands of ints).
_ATOMIC = (int, float, complex, str, bytes, bool, type(None))


def _copy(obj: Any, memo: dict[int, Any], old: Any, used: set[int]) -> Any:
    if type(obj) in _ATOMIC:
        return obj
    if isinstance(obj, torch.Tensor):
        key = id(obj)
        if key not in memo:
            memo[key] = _copy_tensor(obj, old, used)
        return memo[key]
    if isinstance(obj, dict):
        result = type(obj)() if type(obj) is not dict else {}
        old_dict = old if isinstance(old, dict) else {}
        for key, value in obj.items():
            result[key] = _copy(value, memo, old_dict.get(key), used)
        return result
    if isinstance(obj, list | tuple):
        olds = list(old) if isinstance(old, list | tuple) and len(old) == len(obj) else []
        items = [_copy(value, memo, olds[i] if olds else None, used) for i, value in enumerate(obj)]
        if isinstance(obj, list):
            return items
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return copy.deepcopy(obj)


def _copy_tensor(tensor: torch.Tensor, old: Any, used: set[int]) -> torch.Tensor:
    tensor = tensor.detach()
    if (
        isinstance(old, torch.Tensor)
        and id(old) not in used  # (tied in the old snapshot, not in this one: a fresh copy)
        and old.layout == torch.strided == tensor.layout
        and old.device.type == "cpu"
        and old.dtype == tensor.dtype
        and old.shape == tensor.shape
        and old.stride() == tensor.stride()
        and tensor.is_contiguous()
        and (not tensor.is_cuda or old.is_pinned())
    ):
        used.add(id(old))
        with torch.no_grad():
            old.copy_(tensor, non_blocking=tensor.is_cuda)
        return old
    if tensor.is_cuda:  # pragma: no cover - exercised on CUDA machines only
        host = torch.empty_like(tensor, device="cpu", pin_memory=True)
        host.copy_(tensor, non_blocking=True)
        return host
    return tensor.clone()


class BackgroundWriter:
    """One background write at a time; its error is raised by the next :meth:`wait`."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._label = ""

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Callable[[], object], label: str) -> None:
        """Start ``job`` in the background; ``label`` (the checkpoint path) names its errors.

        Waits for the job in flight first (raising its error, if any): never two at once.
        """
        self.wait()
        self._label = label
        thread = threading.Thread(
            target=self._run, args=(job,), name=f"unitrain-checkpoint-writer {label}", daemon=True
        )
        self._thread = thread
        thread.start()

    def _run(self, job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as error:  # kept for the training thread: never lost
            self._error = error

    def wait(self) -> None:
        """Block until the job in flight is done; raise its error on this thread, if any."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is None:
            return
        if isinstance(error, CheckpointError) and self._label in str(error):
            raise error
        raise CheckpointError(
            f"the background write of checkpoint {self._label} failed: "
            f"{type(error).__name__}: {error}. The checkpoints committed before it are "
            "untouched; fix the cause, then resume from the latest one"
        ) from error
