"""The bridges: for each t3w event, the unitrain hook implementation that calls it.

A bridge looks up the loop object the side effect runs in (the :class:`TrainLoop` /
:class:`EvalLoop` stored in the state's stash by the loop, or an :class:`EngineLoop` view),
skips side effects not listed in that loop, and calls the t3w method with t3w's arguments.

Those look-ups give the same answer for the whole life of a plugin set: the loops are the
ones the trainer's :class:`LoopContext` plugin holds (its :class:`EngineLoop` view when it has
none), and whether a loop lists the side effect is known when it is registered. So each
bridge also carries a binder (:mod:`unitrain.hooks.forward`): given the manager, it answers
the loop once, and the relay calls the t3w method itself, ``method(loop, state.batch_idx,
batch)``, with no bridge call in between; a side effect not listed in the loop is not called
at all (``SILENT``). The step return of ``on_train_step_finished`` is made once per event
and shared by every side effect that hears it (the t3w task's step return is itself shared).
A manager without a state (a bare :class:`PluginManager`) calls the bridges as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unitrain.compat.t3w.context import LoopContext
from unitrain.compat.t3w.contract import StepReturnDict, as_step_return
from unitrain.compat.t3w.loop_view import (
    _ENGINE_LOOP,
    _TRAIN_EVENTS,
    EVAL_LOOPS,
    T3W_EVENTS,
    TRAIN_LOOP,
    EngineLoop,
)
from unitrain.hooks.forward import SILENT, Binder, Derived, Forward, Silent

if TYPE_CHECKING:
    from unitrain.compat.t3w.side_effect import ISideEffect
    from unitrain.core.result import StepResult
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager

__all__ = ["bind_bridge", "make_bridge", "step_return_of"]


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


_STEP_RETURN = Derived("t3w_step_return", step_return_of, ("result",))

# t3w's arguments after ``loop``, as expressions over the unitrain hook's arguments
_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "on_train_started": (),
    "on_train_epoch_started": ("state.epoch",),
    "on_train_step_started": ("state.batch_idx", "batch"),
    "on_train_step_finished": ("state.batch_idx", "batch", "{t3w_step_return}"),
    "on_train_epoch_finished": ("state.epoch",),
    "on_train_finished": (),
    "on_eval_started": (),
    "on_eval_step_started": ("state.batch_idx", "batch"),
    "on_eval_step_finished": ("state.batch_idx", "batch"),
    "on_eval_finished": (),
}
assert set(_ARGUMENTS) == set(T3W_EVENTS)


def bind_bridge(t3w_name: str) -> Binder:
    """The binder of the bridge of ``t3w_name`` (see the module docstring)."""
    arguments = _ARGUMENTS[t3w_name]
    derived = (_STEP_RETURN,) if t3w_name == "on_train_step_finished" else ()
    train = t3w_name in _TRAIN_EVENTS

    def bind(side_effect: object, manager: PluginManager) -> Forward | Silent | None:
        state = manager.state
        if state is None:  # no trainer: the loop is found per call, from the call's state
            return None
        method = getattr(side_effect, t3w_name)
        context = manager.get(LoopContext.name)
        if not isinstance(context, LoopContext):
            context = None
        train_loop = None if context is None else context.train_loop
        if train:
            loop = train_loop if train_loop is not None else _engine_loop(state)
            if not _hears(side_effect, loop):
                return SILENT
            return Forward(method, ("{0}", *arguments), (loop,), derived=derived)
        engine: Any = _engine_loop(state)
        if not _hears(side_effect, engine):
            engine = None
        if context is None or not context.eval_loops:
            return SILENT if engine is None else Forward(method, ("{0}", *arguments), (engine,))
        # the split decides the loop: {split: loop, or None where it does not list us}
        loops = {
            split: (loop if _hears(side_effect, loop) else None)
            for split, loop in context.eval_loops.items()
        }
        if engine is None and not any(loops.values()):
            return SILENT
        guard = "({v} := {0}.get(split, {1})) is not None"
        return Forward(method, ("{v}", *arguments), (loops, engine), guard=guard)

    return bind
