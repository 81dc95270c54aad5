"""Forwarded implementations: the relay calls the target past the function, with the same
effect as calling the function itself (which is what a timed call still does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unitrain as ut
from unitrain.hooks.forward import SILENT, Derived, Forward, Silent, forward_of, forwarded
from unitrain.hooks.manager import PluginManager

Log = list[tuple[Any, ...]]


class Target:
    """What a user's method looks like: a bound method taking the arguments it wants."""

    def __init__(self, log: Log, tag: str) -> None:
        self.log, self.tag = log, tag

    def method(self, *args: Any) -> None:
        self.log.append((self.tag, *args))

    def fails(self, *args: Any) -> None:
        raise ValueError(f"{self.tag} failed")


def _plugin(
    name: str, hook: str, function: Callable[..., Any], how: Forward | Any, order: int = 0
) -> object:
    """A plugin whose one hook is ``function`` carrying the forward ``how``."""
    plugin = type(name.title().replace("-", ""), (), {"name": name, "order": order})()
    setattr(plugin, hook, forwarded(how)(function))
    return plugin


def _state() -> ut.State:
    state = ut.State()
    state.epoch, state.batch_idx = 3, 7
    return state


def test_the_relay_calls_the_target_with_its_expressions_not_the_function() -> None:
    log: Log = []
    target = Target(log, "t")

    def on_train_step_end(state: ut.State, batch: Any) -> None:
        log.append(("function", state.epoch, batch))

    loop = object()
    how = Forward(target.method, ("{0}", "state.batch_idx", "batch"), (loop,))
    manager = PluginManager()
    manager.register(_plugin("p", "on_train_step_end", on_train_step_end, how))
    state, batch = _state(), object()
    manager.hooks.on_train_step_end(state, batch, ut.StepResult())
    assert log == [("t", loop, 7, batch)]
    (impl,) = manager.implementations("on_train_step_end")
    assert manager._forwards[impl] is how


def test_a_guard_decides_and_may_bind_a_local_for_the_arguments() -> None:
    log: Log = []
    target = Target(log, "t")
    loops = {"val": "the val loop", "test": None}
    how = Forward(
        target.method,
        ("{v}", "split"),
        (loops, "engine loop"),
        guard="({v} := {0}.get(split, {1})) is not None",
    )

    def on_eval_start(state: ut.State, split: str) -> None:
        raise AssertionError("the function is not called when forwarded")

    manager = PluginManager()
    manager.register(_plugin("p", "on_eval_start", on_eval_start, how))
    for split in ("val", "test", "other"):
        manager.hooks.on_eval_start(_state(), split)
    assert log == [("t", "the val loop", "val"), ("t", "engine loop", "other")]


def test_a_derived_value_is_made_once_per_call_after_the_plugins_before_it() -> None:
    log: Log = []
    made: list[object] = []

    def provide(result: ut.StepResult) -> tuple[str, ...]:
        made.append(result)
        return tuple(result.metrics)

    derived = Derived("names", provide, ("result",))

    class First:
        order = -1

        def on_train_step_end(self, state: ut.State, result: ut.StepResult) -> None:
            result.metrics["added_by_first"] = 1.0  # type: ignore[assignment]

    manager = PluginManager()
    manager.register(First())
    for tag in ("a", "b"):
        how = Forward(Target(log, tag).method, ("{names}",), derived=(derived,))
        manager.register(_plugin(tag, "on_train_step_end", lambda state: None, how))
    result = ut.StepResult()
    manager.hooks.on_train_step_end(_state(), object(), result)
    assert made == [result]  # one computation, shared
    assert log == [("a", ("added_by_first",)), ("b", ("added_by_first",))]


def test_silent_implementations_are_registered_but_never_called() -> None:
    def on_fit_start(state: ut.State) -> None:
        raise AssertionError("a silent implementation is not called")

    manager = PluginManager()
    name = manager.register(_plugin("quiet", "on_fit_start", on_fit_start, lambda p, m: SILENT))
    assert name == "quiet" and "quiet" in manager
    assert manager.implementations("on_fit_start") == []
    assert manager.bound("on_fit_start") is None
    manager.hooks.on_fit_start(_state())


def test_a_binder_is_asked_again_whenever_the_plugin_set_changes() -> None:
    log: Log = []
    target = Target(log, "t")

    def bind(plugin: object, manager: PluginManager) -> Forward:
        return Forward(target.method, ("{0}",), (tuple(manager.names),))

    manager = PluginManager()
    manager.register(_plugin("p", "on_fit_start", lambda state: None, bind))
    manager.hooks.on_fit_start(_state())
    manager.register(_plugin("q", "on_fit_end", lambda state: None, None))
    manager.hooks.on_fit_start(_state())
    assert log == [("t", ("p",)), ("t", ("p", "q"))]
    assert isinstance(forward_of(manager.get("p").on_fit_start, None, manager), Forward)  # type: ignore[union-attr]
    assert forward_of(lambda: None, None, manager) is None
    assert repr(SILENT) == "SILENT" and isinstance(SILENT, Silent)


def test_a_timed_call_runs_the_function_itself() -> None:
    log: Log = []
    target = Target(log, "target")

    def on_fit_start(state: ut.State) -> None:
        log.append(("function",))

    manager = PluginManager()
    manager.register(_plugin("p", "on_fit_start", on_fit_start, Forward(target.method)))
    manager.timer.start()
    manager.hooks.on_fit_start(_state())
    times = manager.timer.stop()
    manager.hooks.on_fit_start(_state())
    assert log == [("function",), ("target",)]
    assert times.calls[("p", "on_fit_start")] == 1


def test_bound_hands_out_the_relay_for_a_forwarded_implementation() -> None:
    log: Log = []
    how = Forward(Target(log, "t").method, ("state.epoch",))
    manager = PluginManager()
    manager.register(_plugin("p", "on_fit_start", lambda state: log.append(("f",)), how))
    call = manager.bound("on_fit_start")
    assert call is manager.hooks.on_fit_start
    assert call is not None
    call(_state())
    assert log == [("t", 3)]


def test_an_error_in_the_target_names_the_plugin() -> None:
    target = Target([], "t")
    manager = PluginManager()
    manager.register(_plugin("culprit", "on_fit_start", lambda state: None, Forward(target.fails)))
    with pytest.raises(ValueError, match="t failed") as caught:
        manager.hooks.on_fit_start(_state())
    assert "plugin 'culprit'" in "\n".join(caught.value.__notes__)
    assert "'on_fit_start'" in "\n".join(caught.value.__notes__)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (Forward(print, ("__import__('os')",)), "uses"),
        (Forward(print, ("state.",)), "bad forward expression"),
        (Forward(print, ("{0}",)), "bad forward expression"),
        (Forward(print, ("{missing}",)), "bad forward expression"),
        (Forward(print, guard="undefined_name"), "uses"),
        (Forward(print, derived=(Derived("x", print, ("batch",)),)), "needs"),
        (Forward(print, derived=(Derived("not a name", print, ()),)), "not an identifier"),
    ],
)
def test_a_forward_the_relay_cannot_compile_is_refused_at_registration(
    how: Forward, message: str
) -> None:
    manager = PluginManager()
    with pytest.raises(ut.PluginError, match=message):
        manager.register(_plugin("bad", "on_fit_start", lambda state: None, how))
    assert "bad" not in manager and manager.implementations("on_fit_start") == []


def test_two_providers_for_one_derived_value_are_refused() -> None:
    manager = PluginManager()
    for index, provider in enumerate((repr, str)):
        how = Forward(print, derived=(Derived("same", provider, ("result",)),))
        plugin = _plugin(f"p{index}", "on_train_step_end", lambda state: None, how)
        if index == 0:
            manager.register(plugin)
            continue
        with pytest.raises(ut.PluginError, match="two providers"):
            manager.register(plugin)


# one plugin of the property: (forwarded?, guard open?, order)
Spec = tuple[bool, bool, int]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(-2, 2)), max_size=8))
def test_forwarded_calls_equal_the_functions_own_calls(specs: list[Spec]) -> None:
    """Whatever mix of forwarded and plain implementations, guards and orders: the relay
    calls the same methods with the same arguments in the same order as the functions
    themselves do (which is how a timed call runs them)."""
    log: Log = []
    manager = PluginManager()
    gate = {"open": True}
    for index, (forward, open_guard, order) in enumerate(specs):
        target = Target(log, f"p{index}")
        flag = {"open": open_guard}

        def function(
            state: ut.State,
            batch: Any,
            result: ut.StepResult,
            target: Target = target,
            flag: dict[str, bool] = flag,
        ) -> None:
            if flag["open"] and gate["open"]:
                target.method(state.batch_idx, batch, len(result.losses))

        how = (
            Forward(
                target.method,
                ("state.batch_idx", "batch", "{n_losses}"),
                (flag, gate),
                guard="{0}['open'] and {1}['open']",
                derived=(Derived("n_losses", _count_losses, ("result",)),),
            )
            if forward
            else None
        )
        # the default parameters are not hook arguments: pass a closure without them
        plain = _bind_defaults(function)
        manager.register(_plugin(f"p{index}", "on_train_step_end", plain, how, order))
    state, batch, result = _state(), object(), ut.StepResult()
    result.losses["x"] = (1.0, None)  # type: ignore[assignment]
    manager.hooks.on_train_step_end(state, batch, result)
    forwarded_log = list(log)
    log.clear()
    manager.timer.start()
    manager.hooks.on_train_step_end(state, batch, result)
    manager.timer.stop()
    assert forwarded_log == log
    assert len(log) == sum(1 for _, open_guard, _ in specs if open_guard)


def _count_losses(result: ut.StepResult) -> int:
    return len(result.losses)


def _bind_defaults(function: Callable[..., Any]) -> Callable[..., Any]:
    def on_train_step_end(state: ut.State, batch: Any, result: ut.StepResult) -> None:
        function(state, batch, result)

    return on_train_step_end
