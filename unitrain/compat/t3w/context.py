"""``LoopContext``: the plugin that tells t3w side effects which loop objects they run in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unitrain.compat.t3w.loop_view import EVAL_LOOPS, TRAIN_LOOP
from unitrain.core.state import State
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.compat.t3w.loops import EvalLoop, TrainLoop

__all__ = ["LoopContext"]


class LoopContext:
    """Tells the side effects which loop objects they run in, and binds the module's
    progress view to the engine state, first thing in the fit or pass.

    A plugin (not a value set on one trainer) so that a trainer rebuilt from its arguments
    (one per process of a distributed run) carries it too.
    """

    name = "t3w_loops"

    def __init__(self, train_loop: TrainLoop | None, eval_loops: dict[str, EvalLoop]) -> None:
        self.train_loop = train_loop
        self.eval_loops = eval_loops

    def _enter(self, state: State) -> None:
        if self.train_loop is not None:
            state.stash[TRAIN_LOOP] = self.train_loop
        state.stash[EVAL_LOOPS] = self.eval_loops

    @hookimpl(tryfirst=True)
    def on_fit_start(self, state: State) -> None:
        self._enter(state)
        if self.train_loop is not None:  # the fit continues at the module's progress
            self.train_loop.model.bind_state(state)

    @hookimpl(tryfirst=True)
    def on_eval_start(self, state: State, split: str) -> None:
        if state.stash.get(EVAL_LOOPS) is not self.eval_loops:
            self._enter(state)


class MediaHooks:
    """Runs the loops' media producers (registered only when a loop has some).

    After each train / eval step (before the side effects hear it, as t3w ran them inside
    its step) the producers see the minibatch; ``on_epoch_start`` / ``on_epoch_end`` go to
    the train loop's producers around each epoch and to an eval loop's around its pass.
    """

    name = "t3w_medias"

    def __init__(self, train_loop: TrainLoop | None, eval_loops: dict[str, EvalLoop]) -> None:
        self.train_loop = train_loop
        self.eval_loops = eval_loops

    @hookimpl(tryfirst=True)
    def on_epoch_start(self, state: State) -> None:
        if self.train_loop is not None:
            self.train_loop.medias.notify("on_epoch_start")

    @hookimpl(tryfirst=True)
    def on_train_step_end(self, state: State, batch: Any, result: Any) -> None:
        if self.train_loop is not None:
            self.train_loop.medias.update_and_sync(batch)

    @hookimpl(tryfirst=True)
    def on_epoch_end(self, state: State) -> None:
        if self.train_loop is not None:
            self.train_loop.medias.notify("on_epoch_end")

    @hookimpl(tryfirst=True)
    def on_eval_start(self, state: State, split: str) -> None:
        if split in self.eval_loops:
            self.eval_loops[split].medias.notify("on_epoch_start")

    @hookimpl(tryfirst=True)
    def on_eval_step_end(self, state: State, split: str, batch: Any, result: Any) -> None:
        if split in self.eval_loops:
            self.eval_loops[split].medias.update_and_sync(batch)

    @hookimpl(tryfirst=True)
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if split in self.eval_loops:
            self.eval_loops[split].medias.notify("on_epoch_end")
