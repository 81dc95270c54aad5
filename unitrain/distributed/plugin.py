"""The plugin that makes the one loop distributed: the forward goes through the wrapped
model, gradients are not synchronised inside an accumulation window, and stop requests and
SIGTERM are agreed across ranks.

It is registered as ``"distributed"`` on every rank by the trainer when more than one
process takes part; single-process runs never see it (and pay nothing): they have the
:class:`~unitrain.distributed.checkpoint.WorldSizeCheck` under that name, which refuses a
checkpoint of another world size before anything of it is loaded
(``on_before_load_checkpoint``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch.distributed as dist
from torch import nn

from unitrain.core.result import StepResult
from unitrain.core.state import State
from unitrain.distributed.agreement import SigtermFlag, agree_on_stop
from unitrain.distributed.checkpoint import WorldSizeCheck
from unitrain.distributed.fsdp_checkpoint import full_checkpoint_entries
from unitrain.distributed.strategy import Strategy
from unitrain.errors import CheckpointError, ConfigError
from unitrain.hooks.markers import hookimpl
from unitrain.runs.rng import capture_rng, restore_rng

if TYPE_CHECKING:
    from unitrain.core.engine import Engine

__all__ = ["DistributedPlugin", "full_state_dict"]

LAST = 1_000_000  # after every other implementation: agree on what they all requested


class DistributedPlugin(WorldSizeCheck):
    """Runs on every rank; see the module docstring."""

    order = LAST
    ranks = "all"

    def __init__(
        self, state: State, strategy: Strategy, task: Any, model: nn.Module, wrapped: nn.Module
    ) -> None:
        super().__init__(state)
        self.strategy = strategy
        self.task = task
        self.model = model
        self.wrapped = wrapped
        self.sigterm = SigtermFlag()
        self._no_sync = contextlib.ExitStack()
        self._held_stop: str | None = None
        self.gather_rng = False  # set by unitrain.distributed.full_state_dict on every rank
        self._static_graph = bool(getattr(strategy, "static_graph", False))
        self._synced_once = False
        self.window_open = False

    # ------------------------------------------------------------ the forward and no_sync

    @hookimpl(wrapper=True)
    def run_forward(self, state: State, batch: Any) -> Any:
        # the task calls self.model; for this one call it must be the DDP module, so that
        # DDP prepares the gradient all-reduce of the backward that follows
        if self.wrapped is self.model:
            return (yield)
        self.task.model = self.wrapped
        try:
            return (yield)
        finally:
            self.task.model = self.model

    def on_train_step_start(self, state: State, batch: Any) -> None:
        # DDP records a static graph in a synchronised first backward; reducing a micro-step
        # more than needed is still exact (averaging is linear), so that one is synced
        if not state.ends_window and (self._synced_once or not self._static_graph):
            self._no_sync.enter_context(self.strategy.no_sync(self.wrapped))

    def on_after_backward(self, state: State, result: StepResult) -> None:
        index = state.optimizer_idx
        if index is not None and index < len(state.optimizers) - 1:
            return  # one loss per optimizer: the window stays unsynced until the last one's
        self._no_sync.close()
        self._synced_once = True
        # FSDP2 keeps a window's unreduced gradients inside its own buffers (p.grad is None)
        self.window_open = not state.ends_window

    # ------------------------------------------------------------ agreeing on stops

    @hookimpl(trylast=True)
    def on_fit_start(self, state: State) -> None:
        check_optimization(state, self.strategy)
        self._held_stop = None
        self.sigterm.install()
        self._agree(state)

    @hookimpl(trylast=True)
    def on_epoch_start(self, state: State) -> None:
        self._agree(state)

    @hookimpl(trylast=True)
    def on_train_step_end(self, state: State, batch: Any, result: StepResult) -> None:
        if state.ends_window and state.global_step % self.strategy.agree_every == 0:
            self._agree(state)
        elif state.stop_requested == "now":
            # a rank that left in mid-window would leave the others waiting in the window's
            # all-reduce: hold the request until the next agreement, then agree on it
            self._held_stop, state.stop_requested = state.stop_reason, None

    @hookimpl(tryfirst=True)
    def on_eval_start(self, state: State, split: str) -> None:
        self.strategy.begin_eval(self.wrapped)

    @hookimpl(trylast=True)
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        self.strategy.end_eval(self.wrapped)
        self._agree(state)

    @hookimpl(tryfirst=True)
    def on_predict_start(self, state: State) -> None:
        self.strategy.begin_eval(self.wrapped)

    @hookimpl(trylast=True)
    def on_predict_end(self, state: State) -> None:
        self.strategy.end_eval(self.wrapped)

    @hookimpl(trylast=True)
    def on_epoch_end(self, state: State) -> None:
        self._agree(state)

    # first: handlers installed after ours (none) are undone before ours, the ones installed
    # before ours (a checkpoint plugin's) after it, so the original handler ends up in place
    @hookimpl(tryfirst=True)
    def on_fit_end(self, state: State) -> None:
        self.sigterm.uninstall()

    @hookimpl(tryfirst=True)
    def on_exception(self, state: State, error: BaseException) -> None:
        self._no_sync.close()
        self.task.model = self.model
        self.sigterm.uninstall()

    def _agree(self, state: State) -> None:
        if self._held_stop is not None:
            state.request_stop("now", self._held_stop)
            self._held_stop = None
        agree_on_stop(state, self.sigterm.received)

    # ------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The world size and, inside :func:`full_state_dict`, every rank's random state."""
        saved = super().state_dict()
        saved["rng"] = None
        if self.gather_rng:
            gathered: list[Any] = [None] * self._state.world_size
            dist.all_gather_object(gathered, capture_rng())
            saved["rng"] = gathered
        return saved

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Refuse another world size; give each rank back its own random state."""
        super().load_state_dict(saved)
        if saved.get("rng"):
            restore_rng(saved["rng"][self._state.rank])

    def on_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        # FSDP2: the model and optimizer entries are this rank's shards; gather them whole
        if self.strategy.name == "fsdp":
            _gather_fsdp(self.gather_rng, self.model, state, checkpoint, self.window_open)
        # inside full_state_dict: every rank's data order (its epoch-start and current random
        # states, sampler generators, last fetches), which a mid-epoch resume replays per rank
        if self.gather_rng and "data_order" in checkpoint:
            gathered: list[Any] = [None] * state.world_size
            dist.all_gather_object(gathered, checkpoint["data_order"])
            checkpoint["rank_data_orders"] = gathered


def check_optimization(state: State, strategy: Strategy) -> None:
    """Refuse, before the first step, what a distributed run cannot do with several
    optimizers' losses or manual optimization.

    Each optimizer's loss runs with the other optimizers' parameters not requiring grad, so
    a DDP backward leaves them without gradients: DDP must be told that parameters may go
    unused (``find_unused_parameters=True``), or it waits for their gradients forever.
    FSDP2 is not supported with these modes (untested: refused rather than guessed)."""
    if state.optimization == "automatic" or len(state.optimizers) < 2:
        return
    mode = f"optimization={state.optimization!r} with {len(state.optimizers)} optimizers"
    if strategy.name == "fsdp":
        raise ConfigError(
            f"{mode} is not supported under FSDP; use DDPStrategy(find_unused_parameters=True)"
        )
    if not getattr(strategy, "find_unused_parameters", False):
        raise ConfigError(
            f"{mode} under DDP needs DDPStrategy(find_unused_parameters=True): each "
            "optimizer's loss leaves the other optimizers' parameters without gradients, and "
            "DDP without it waits for them. Pass strategy=DDPStrategy(find_unused_parameters="
            "True) to the Trainer"
        )


def _gather_fsdp(
    every_rank: bool, model: nn.Module, state: State, checkpoint: dict[str, Any], window: bool
) -> None:
    if window:
        checkpoint["grads"] = "unreduced"  # refused below, as gradients held mid-window
    if not every_rank:
        raise CheckpointError(
            f"trainer.state_dict() on rank {state.rank} alone under FSDP would hold only this "
            "rank's shards of the model and optimizers; call "
            "unitrain.distributed.full_state_dict(trainer) on every rank instead (the "
            "Checkpoint plugin does), which gathers the full state"
        )
    full_checkpoint_entries(model, state.optimizers, checkpoint)


def full_state_dict(trainer: Engine) -> dict[str, Any]:
    """``trainer.state_dict()`` with every rank's random state; call it on every rank.

    A checkpoint writer that saves from rank 0 only calls this on all ranks and writes the
    result on rank 0 (as the :class:`~unitrain.plugins.checkpoint.Checkpoint` plugin does):
    then a resume with the same number of processes gives each rank its own random streams
    and data order back (``checkpoint["rank_data_orders"]``), so dropout and other
    randomness continue exactly, also from the middle of an epoch. Under FSDP2 the model
    and optimizer entries are the full state gathered on rank 0 (the other ranks get empty
    ones), in the format of a one-process run: see :mod:`unitrain.distributed.fsdp_checkpoint`.
    """
    plugin = trainer.plugins.get("distributed")
    if not isinstance(plugin, DistributedPlugin):
        return trainer.state_dict()
    plugin.gather_rng = True
    try:
        return trainer.state_dict()
    finally:
        plugin.gather_rng = False
