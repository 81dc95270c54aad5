"""Cross-rank agreement on stopping, so that no rank waits forever for the others.

A stop request (early stopping, a NaN policy, a plugin that only runs on rank 0) or a
SIGTERM reaches one rank. If that rank simply stopped, the others would block in the next
gradient all-reduce. So each rank's request is combined with everybody's at points that
every rank passes together: the end of each accumulation window, the end of each evaluation
pass and the end of each epoch. Requests are OR-ed (a ``"now"`` wins over ``"epoch_end"``),
and every rank then acts on the same step.

The flags travel over a CPU (gloo) group, so agreeing never waits for the GPU.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist

from unitrain.core.state import State
from unitrain.distributed.group import control_group

__all__ = ["SigtermFlag", "agree_on_stop"]

_NOW, _EPOCH_END, _SIGTERM = 0, 1, 2


def agree_on_stop(state: State, sigterm: bool = False) -> bool:
    """OR every rank's stop request into ``state``; return True if any rank saw a SIGTERM."""
    flags = torch.zeros(3 + state.world_size, dtype=torch.int64)
    flags[_NOW] = state.stop_requested == "now"
    flags[_EPOCH_END] = state.stop_requested == "epoch_end"
    flags[_SIGTERM] = sigterm
    if state.stop_requested is not None or sigterm:
        flags[3 + state.rank] = 1  # who asked, for the reason shown on the other ranks
    dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=control_group())
    now, epoch_end, any_sigterm = (bool(v) for v in flags[:3].tolist())
    if state.stop_requested is None or (now and state.stop_requested != "now"):
        asked = [rank for rank, flag in enumerate(flags[3:].tolist()) if flag]
        if any_sigterm:
            state.request_stop("now", f"SIGTERM received (rank(s) {asked})")
        elif now:
            state.request_stop("now", f"stop requested on rank(s) {asked}")
        elif epoch_end:
            state.request_stop("epoch_end", f"stop requested on rank(s) {asked}")
    return any_sigterm


class SigtermFlag:
    """Notes a SIGTERM instead of dying, for the duration of a fit (main thread only).

    Any Python handler that was installed before still runs; the previous handler is put
    back by :meth:`uninstall`.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        """Start noting SIGTERM (no-op outside the main thread)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self.received = False
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def uninstall(self) -> None:
        """Put the previous handler back."""
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        if callable(self._previous):
            self._previous(signum, frame)
