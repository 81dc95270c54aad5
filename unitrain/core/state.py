"""The one state object every hook receives, with the one step vocabulary.

Who owns what:

- **Engine-owned (read-only for plugins):** ``phase``, ``epoch``, ``batch_idx``,
  ``global_step``, ``micro_step``, ``epoch_length``, ``eval_length`` (batches of the
  evaluation pass running now, when its loader has a length), ``max_epochs``, ``max_steps``,
  ``accumulation``, ``accumulation_window``, ``ends_window``, ``split``, ``rank``,
  ``local_rank``, ``world_size``, ``device``, ``dry_run``,
  ``model``, ``optimizers``, ``schedulers``, ``eval_metrics``, ``optimization``,
  ``optimizer_idx``. The engine changes them right
  beside the hook call that announces the change (see :mod:`unitrain.core.loop`).
- **Plugins may write:** ``grad_scaler`` (the mixed-precision plugin sets it), ``stash``
  (typed plugin-private data), and stop requests through :meth:`State.request_stop`
  (which sets ``stop_requested`` and ``stop_reason``; the engine clears them when a fit
  starts).

The step vocabulary, defined once:

- ``epoch``: 0-based index of the current training epoch.
- ``batch_idx``: 0-based index of the batch within the current epoch (or eval / predict pass).
- ``micro_step``: forward/backward passes done so far in this fit (counts every batch).
- ``global_step``: optimizer steps done so far in this fit (one per accumulation window).
- ``accumulation_window``: micro-steps in the current window (``accumulation``, or fewer for
  the last, partial window of an epoch); ``ends_window``: this micro-step ends it.
- ``optimization``: how the training step optimizes, chosen once per fit from the task (see
  :mod:`unitrain.core.multi_step`): ``"automatic"`` (one loss, every optimizer steps on it),
  ``"per_optimizer"`` (each optimizer its own loss, in turn) or ``"manual"`` (the task steps
  them); ``optimizer_idx``: in ``"per_optimizer"`` mode the optimizer whose loss is being
  computed and backpropagated now, else ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.core.stash import Stash

if TYPE_CHECKING:
    from unitrain.core.schedule import ScheduledLR

__all__ = ["Optimization", "Phase", "State", "StopWhen"]

Phase = Literal["idle", "fit", "eval", "predict"]
Optimization = Literal["automatic", "per_optimizer", "manual"]
StopWhen = Literal["now", "epoch_end"]


@dataclass(slots=True, eq=False)
class State:
    """Where the engine is, and what it is working with."""

    phase: Phase = "idle"
    epoch: int = 0
    batch_idx: int = 0
    global_step: int = 0
    micro_step: int = 0
    epoch_length: int | None = None
    eval_length: int | None = None  # batches of the evaluation running now, when sized
    max_epochs: int | None = None
    max_steps: int | None = None
    accumulation: int = 1
    accumulation_window: int = 1
    ends_window: bool = True
    split: str | None = None
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: ``fast_dev_run``: a run that writes nothing; plugins that write files (checkpoints,
    #: run folders, logs) check it when a fit (or evaluation) starts and skip their writes
    dry_run: bool = False
    model: torch.nn.Module | None = None
    optimizers: tuple[torch.optim.Optimizer, ...] = ()
    schedulers: list[ScheduledLR] = field(default_factory=list)
    eval_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    optimization: Optimization = "automatic"
    optimizer_idx: int | None = None
    grad_scaler: Any = None
    stash: Stash = field(default_factory=Stash)
    stop_requested: StopWhen | None = None
    stop_reason: str = ""

    def request_stop(self, when: StopWhen = "now", reason: str = "") -> None:
        """Ask the loop to stop.

        ``"now"``: the current training step finishes, the epoch is closed
        (``on_epoch_end`` fires, no evaluation), then the fit ends. ``"epoch_end"``: the
        current epoch finishes normally, including its evaluation, then the fit ends. A
        ``"now"`` request wins over an earlier ``"epoch_end"`` one.
        """
        if when not in ("now", "epoch_end"):
            raise ValueError(f"request_stop(when={when!r}): expected 'now' or 'epoch_end'")
        if self.stop_requested != "now":
            self.stop_requested = when
            self.stop_reason = reason

    @property
    def is_main_process(self) -> bool:
        """True on global rank 0, the rank that writes files and logs."""
        return self.rank == 0

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The first optimizer; most tasks have exactly one."""
        if not self.optimizers:
            raise AttributeError("State.optimizer: no optimizer was made (fit has not started)")
        return self.optimizers[0]
