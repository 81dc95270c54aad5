"""The bridges: for each t3w event, the unitrain hook implementation that calls it.

A bridge looks up the loop object the side effect runs in (the :class:`TrainLoop` /
:class:`EvalLoop` stored in the state's stash by the loop, or an :class:`EngineLoop` view),
skips side effects not listed in that loop, and calls the t3w method with t3w's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unitrain.compat.t3w.contract import StepReturnDict, as_step_return
from unitrain.compat.t3w.loop_view import _ENGINE_LOOP, EVAL_LOOPS, TRAIN_LOOP, EngineLoop

if TYPE_CHECKING:
    from unitrain.compat.t3w.side_effect import ISideEffect
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["make_bridge", "step_return_of"]


def _train_loop(state: State) -> Any:
    loop = state.stash.get(TRAIN_LOOP)
    return loop if loop is not None else _engine_loop(state)


def _eval_loop(state: State, split: str) -> Any:
    loops = state.stash.get(EVAL_LOOPS)
    if loops and split in loops:
        return loops[split]
    return _engine_loop(state)


def _engine_loop(state: State) -> Any:
    loop = state.stash.get(_ENGINE_LOOP)
    if loop is None:
        loop = state.stash.setdefault(_ENGINE_LOOP, EngineLoop(state))
    return loop


def _hears(side_effect: object, loop: Any) -> bool:
    # by identity, asked of the loop: in a spawned process the loop and its side effects
    # arrive in one pickle, so identity holds there too (ids would not)
    hears = getattr(loop, "hears", None)
    return hears is None or bool(hears(side_effect))


def step_return_of(result: StepResult) -> StepReturnDict:
    """The t3w step return of a step result (the t3w task puts it in ``outputs``)."""
    found = as_step_return(result.outputs)
    if found is not None:
        return found
    return {"losses": dict(result.losses), "metrics": dict(result.metrics)}


def make_bridge(t3w_name: str) -> Callable[..., None]:
    """The unitrain hook implementation that forwards to ``t3w_name``."""
    if t3w_name == "on_train_started":

        def on_fit_start(self: ISideEffect, state: State) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_started(loop)

        return on_fit_start
    if t3w_name == "on_train_epoch_started":

        def on_epoch_start(self: ISideEffect, state: State) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_epoch_started(loop, state.epoch)

        return on_epoch_start
    if t3w_name == "on_train_step_started":

        def on_train_step_start(self: ISideEffect, state: State, batch: Any) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_step_started(loop, state.batch_idx, batch)

        return on_train_step_start
    if t3w_name == "on_train_step_finished":

        def on_train_step_end(
            self: ISideEffect, state: State, batch: Any, result: StepResult
        ) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_step_finished(loop, state.batch_idx, batch, step_return_of(result))

        return on_train_step_end
    if t3w_name == "on_train_epoch_finished":

        def on_epoch_end(self: ISideEffect, state: State) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_epoch_finished(loop, state.epoch)

        return on_epoch_end
    if t3w_name == "on_train_finished":

        def on_fit_end(self: ISideEffect, state: State) -> None:
            loop = _train_loop(state)
            if _hears(self, loop):
                self.on_train_finished(loop)

        return on_fit_end
    if t3w_name == "on_eval_started":

        def on_eval_start(self: ISideEffect, state: State, split: str) -> None:
            loop = _eval_loop(state, split)
            if _hears(self, loop):
                self.on_eval_started(loop)

        return on_eval_start
    if t3w_name == "on_eval_step_started":

        def on_eval_step_start(self: ISideEffect, state: State, split: str, batch: Any) -> None:
            loop = _eval_loop(state, split)
            if _hears(self, loop):
                self.on_eval_step_started(loop, state.batch_idx, batch)

        return on_eval_step_start
    if t3w_name == "on_eval_step_finished":

        def on_eval_step_end(
            self: ISideEffect, state: State, split: str, batch: Any, result: StepResult
        ) -> None:
            loop = _eval_loop(state, split)
            if _hears(self, loop):
                self.on_eval_step_finished(loop, state.batch_idx, batch)

        return on_eval_step_end

    def on_eval_end(self: ISideEffect, state: State, split: str, metrics: dict[str, float]) -> None:
        loop = _eval_loop(state, split)
        if _hears(self, loop):
            self.on_eval_finished(loop)

    return on_eval_end
