"""t3w side effects at native cost: only overridden events become implementations, and in a
trainer the relay calls the side effect's own method with t3w's arguments (no bridge call,
no per-call look-up), hearing exactly what the bridges would have delivered."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import unitrain as ut
from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w
from unitrain.compat.t3w.context import LoopContext
from unitrain.compat.t3w.loop_view import T3W_EVENTS
from unitrain.hooks.manager import PluginManager
from unitrain.hooks.specs import Hooks

HOOKS = [name for name in dir(Hooks) if not name.startswith("_")]

# t3w's parameters after ``self``, per event
PARAMETERS = {
    "on_train_started": ("loop",),
    "on_train_epoch_started": ("loop", "epoch"),
    "on_train_step_started": ("loop", "step", "mb"),
    "on_train_step_finished": ("loop", "step", "mb", "step_return"),
    "on_train_epoch_finished": ("loop", "epoch"),
    "on_train_finished": ("loop",),
    "on_eval_started": ("loop",),
    "on_eval_step_started": ("loop", "step", "mb"),
    "on_eval_step_finished": ("loop", "step", "mb"),
    "on_eval_finished": ("loop",),
}


def _logging(event: str, parameters: tuple[str, ...]) -> Any:
    source = (
        f"def {event}(self, {', '.join(parameters)}):\n"
        f"    self.log.append((self.tag, {event!r}, {', '.join(parameters)},))\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return namespace[event]


def side_effect_class(events: frozenset[str]) -> type[t3w.ISideEffect]:
    """An ISideEffect subclass overriding exactly ``events``, each logging its arguments."""
    body: dict[str, Any] = {"is_distributed": True}
    for event in events:
        body[event] = _logging(event, PARAMETERS[event])

    def __init__(self: Any, log: list[tuple[Any, ...]], tag: str) -> None:
        self.log, self.tag = log, tag

    body["__init__"] = __init__
    return type("Logged", (t3w.ISideEffect,), body)


def _own(manager: PluginManager, name: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for hook in HOOKS:
        for impl in manager.implementations(hook):
            if impl.plugin_name == name:
                found[hook] = impl
    return found


def test_a_side_effect_overriding_two_events_has_two_implementations_calling_its_methods() -> None:
    cls = side_effect_class(frozenset({"on_train_step_started", "on_eval_finished"}))
    side_effect = cls([], "se")
    manager = PluginManager()
    manager.state = ut.State()  # as in a trainer
    manager.register(side_effect, "se")
    impls = _own(manager, "se")
    assert sorted(impls) == ["on_eval_end", "on_train_step_start"]
    start = manager.forward(impls["on_train_step_start"])
    end = manager.forward(impls["on_eval_end"])
    assert start is not None and end is not None
    # the relay calls the user's bound method itself, with t3w's arguments as expressions
    assert start.target == side_effect.on_train_step_started
    assert start.args == ("{0}", "state.batch_idx", "batch") and start.guard is None
    assert end.target == side_effect.on_eval_finished and end.args == ("{0}",)
    (loop,) = start.constants
    assert isinstance(loop, t3w.EngineLoop) and end.constants == (loop,)


def test_in_a_train_loop_the_loops_are_constants_and_unlisted_side_effects_are_silent() -> None:
    everything = frozenset(T3W_EVENTS)
    train_only = side_effect_class(everything)([], "t")
    eval_only = side_effect_class(everything)([], "e")
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=5, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=[eval_only],
    )
    loop = t3w.TrainLoop(
        PointSet(size=8),
        make_module(),
        losses={"ce": CrossEntropy()},
        metrics={"acc": Accuracy()},
        epochs=1,
        eval_loop=evaluation,
        side_effects=[train_only],
    )
    loop()
    assert loop.trainer is not None
    manager = loop.trainer.plugins
    train_impls = _own(manager, manager.names[[r.plugin for r in manager].index(train_only)])
    eval_impls = _own(manager, manager.names[[r.plugin for r in manager].index(eval_only)])
    # the eval-only side effect is not listed in the train loop: no caller calls its bridges
    assert sorted(eval_impls) == sorted(v for k, v in T3W_EVENTS.items() if "eval" in k)
    # the train-only one would hear the evaluation of a split no EvalLoop runs (through the
    # engine's loop view), so its eval bridges stay, guarded: None for the "val" loop
    assert sorted(train_impls) == sorted(T3W_EVENTS.values())
    train_eval = manager.forward(train_impls["on_eval_end"])
    assert train_eval is not None and train_eval.constants[0] == {"val": None}
    step_end = manager.forward(train_impls["on_train_step_end"])
    assert step_end is not None and step_end.constants == (loop,)
    assert step_end.target == train_only.on_train_step_finished
    assert [value.name for value in step_end.derived] == ["t3w_step_return"]
    eval_step = manager.forward(eval_impls["on_eval_step_start"])
    assert eval_step is not None and eval_step.guard is not None
    loops, _engine = eval_step.constants
    assert loops == {"val": evaluation}
    heard = {(tag, event) for tag, event, *_ in train_only.log + eval_only.log}
    assert heard == {("t", e) for e in T3W_EVENTS if "train" in e} | {
        ("e", e) for e in T3W_EVENTS if "eval" in e
    }


class _Model:
    def bind_state(self, state: ut.State) -> None:
        pass


class _Loop:
    """A loop object listing some side effects, as TrainLoop / EvalLoop do."""

    def __init__(self, tag: str) -> None:
        self.tag, self.model, self.side_effects = tag, _Model(), []

    def hears(self, side_effect: object) -> bool:
        return any(member is side_effect for member in self.side_effects)

    def __repr__(self) -> str:
        return f"<loop {self.tag}>"


def _fire(manager: PluginManager, state: ut.State, result: ut.StepResult) -> None:
    hooks = manager.hooks
    batch = ("batch",)
    hooks.on_fit_start(state)
    hooks.on_epoch_start(state)
    for index in range(2):
        state.batch_idx = index
        hooks.on_train_step_start(state, batch)
        hooks.on_train_step_end(state, batch, result)
    for split in ("val", "other"):
        hooks.on_eval_start(state, split)
        hooks.on_eval_step_start(state, split, batch)
        hooks.on_eval_step_end(state, split, batch, result)
        hooks.on_eval_end(state, split, {"acc": 1.0})
    hooks.on_epoch_end(state)
    hooks.on_fit_end(state)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.frozensets(st.sampled_from(sorted(T3W_EVENTS))), st.booleans(), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.booleans(),
)
def test_the_compiled_calls_deliver_what_the_bridges_deliver(
    specs: list[tuple[frozenset[str], bool, bool]], with_loops: bool, t3w_outputs: bool
) -> None:
    """For any side effects overriding any events, listed in any loops: the calls made through
    the trainer's compiled relay equal those the bridges make from the call's state (a
    manager without a state calls the bridges as they are)."""
    state, result = ut.State(), ut.StepResult()
    result.losses["ce"] = (1.0, 0.5)  # type: ignore[assignment]
    if t3w_outputs:  # the t3w task's step return rides in outputs
        result.outputs = {"losses": {"ce": (1.0, 0.5)}, "metrics": {}}
    train, val = _Loop("train"), _Loop("val")
    logs: list[list[tuple[Any, ...]]] = [[], []]
    managers = [PluginManager(), PluginManager()]
    managers[0].state = state
    if with_loops:
        for manager in managers:
            manager.register(LoopContext(train, {"val": val}))  # type: ignore[arg-type]
    for index, (events, in_train, in_val) in enumerate(specs):
        cls = side_effect_class(events)
        for manager, log in zip(managers, logs, strict=True):
            side_effect = cls(log, f"se{index}")
            if in_train:
                train.side_effects.append(side_effect)
            if in_val:
                val.side_effects.append(side_effect)
            manager.register(side_effect, f"se{index}")
    # with a state every side effect's implementation is forwarded; without, none is
    for manager, forwarded in zip(managers, (True, False), strict=True):
        impls = [i for h in HOOKS for i in manager.implementations(h)]
        side_effects = [i for i in impls if i.plugin_name.startswith("se")]
        assert all((manager.forward(i) is not None) is forwarded for i in side_effects)
    for manager in managers:
        _fire(manager, state, result)
    assert logs[0] == logs[1]
