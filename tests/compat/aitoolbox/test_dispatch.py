"""aitoolbox callbacks at native cost: only overridden hooks become implementations, each one
called by the relay as the callback's own method (the gradient hooks behind their compiled
``grad_cb_used`` test), delivering exactly what the adapter's functions deliver."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import unitrain as ut
from tests.compat.aitoolbox._tiny import Trace, make_batches, make_loop
from unitrain.compat.aitoolbox import AbstractCallback
from unitrain.compat.aitoolbox.adapter import _WIRING, make_plugin
from unitrain.hooks.manager import PluginManager
from unitrain.hooks.specs import Hooks

HOOKS = [name for name in dir(Hooks) if not name.startswith("_")]
SEED = sorted(_WIRING)  # the nine seed hooks the engine fires


def _logging(seed_hook: str) -> Any:
    if seed_hook == "on_after_gradient_update":

        def method(self: Any, optimizer_idx: int) -> None:
            self.log.append((self.callback_name, seed_hook, optimizer_idx))

    elif seed_hook == "on_after_batch_prediction":

        def method(self: Any, y_pred: Any, y_true: Any, metadata: Any, info: Any) -> None:
            self.log.append((self.callback_name, seed_hook, y_pred, y_true, metadata, info))

    else:

        def method(self: Any) -> None:
            self.log.append((self.callback_name, seed_hook))

    return method


def callback_class(hooks: frozenset[str]) -> type[AbstractCallback]:
    """An AbstractCallback subclass overriding exactly ``hooks``, each logging its call."""
    body: dict[str, Any] = {hook: _logging(hook) for hook in hooks}

    def __init__(self: Any, name: str, log: list[Any], order: int = 0) -> None:
        AbstractCallback.__init__(self, name, execution_order=order)
        self.log = log

    body["__init__"] = __init__
    return type("Logged", (AbstractCallback,), body)


def _own(manager: PluginManager, name: str) -> dict[str, Any]:
    return {
        hook: impl
        for hook in HOOKS
        for impl in manager.implementations(hook)
        if impl.plugin_name == name
    }


def test_a_callback_overriding_two_hooks_has_two_implementations_its_own_methods() -> None:
    callback = callback_class(frozenset({"on_batch_end", "on_epoch_begin"}))("two", [])
    manager = PluginManager()
    manager.register(make_plugin(callback, SimpleNamespace(grad_cb_used=False)))  # type: ignore[arg-type]
    impls = _own(manager, "two")
    assert sorted(impls) == ["on_epoch_start", "on_train_step_end"]
    pairs = (("on_epoch_start", "on_epoch_begin"), ("on_train_step_end", "on_batch_end"))
    for hook, method in pairs:
        forward = manager.forward(impls[hook])
        assert forward is not None
        # no adapter call in between: the relay calls the callback's bound method, no args
        assert forward.target == getattr(callback, method)
        assert forward.args == () and forward.guard is None and forward.constants == ()


def test_gradient_hooks_are_guarded_by_the_loops_flag_in_the_compiled_call() -> None:
    callback = callback_class(frozenset({"on_after_gradient_update", "on_after_optimizer_step"}))(
        "grads", []
    )
    loop = SimpleNamespace(grad_cb_used=False)
    manager = PluginManager()
    manager.register(make_plugin(callback, loop))  # type: ignore[arg-type]
    impls = _own(manager, "grads")
    assert sorted(impls) == [
        "on_after_backward",
        "on_after_optimizer_step",
        "on_before_optimizer_step",
    ]
    before = manager.forward(impls["on_before_optimizer_step"])
    after = manager.forward(impls["on_after_optimizer_step"])
    assert before is not None and after is not None
    assert before.target == callback.on_after_gradient_update  # type: ignore[attr-defined]
    assert before.args == ("optimizer_idx",) and before.constants == (loop,)
    assert after.target == callback.on_after_optimizer_step and after.constants == (loop,)
    assert before.guard == after.guard == "{0}.grad_cb_used"


def test_in_a_train_loop_every_wired_hook_is_forwarded() -> None:
    log: list[str] = []
    loop = make_loop(train=make_batches(count=2), val=None, end_auto_eval=False)
    loop.fit(num_epochs=1, callbacks=[Trace("a", log, grads=True)])
    assert loop.trainer is not None
    manager = loop.trainer.plugins
    impls = _own(manager, "a")
    # eight seed hooks, on_after_gradient_update on two unitrain hooks; no prediction hook
    assert len(impls) == 9
    assert all(manager.forward(impl) is not None for impl in impls.values())


def test_a_callback_handed_to_a_native_trainer_is_forwarded_too() -> None:
    log: list[Any] = []
    callback = callback_class(frozenset({"on_batch_begin", "on_batch_end"}))("cb", log)
    task = ut.Task(
        torch.nn.Linear(3, 2),
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    batches = [(x[:4], (x[:4].sum(1) > 0).long()), (x[4:], (x[4:].sum(1) > 0).long())]
    trainer = ut.Trainer(task, plugins=[callback], max_epochs=1, device="cpu")
    trainer.fit(batches)
    impls = _own(trainer.plugins, "cb")
    assert sorted(impls) == ["on_train_step_end", "on_train_step_start"]
    assert all(trainer.plugins.forward(impl) is not None for impl in impls.values())
    assert log == [("cb", "on_batch_begin"), ("cb", "on_batch_end")] * 2


class _Optimizer:
    pass


def _fire(manager: PluginManager, state: ut.State) -> None:
    hooks, batch, result = manager.hooks, ("batch",), ut.StepResult()
    hooks.on_fit_start(state)
    hooks.on_epoch_start(state)
    for ends_window in (False, True):
        state.ends_window = ends_window  # type: ignore[misc]
        hooks.on_train_step_start(state, batch)
        hooks.on_after_backward(state, result)
        if ends_window:
            for index, optimizer in enumerate(state.optimizers):
                hooks.on_before_optimizer_step(state, optimizer, index)
                hooks.on_after_optimizer_step(state, optimizer, index)
        hooks.on_train_step_end(state, batch, result)
    hooks.on_predict_step_end(state, batch, ("pred", "true", {"meta": 1}))
    hooks.on_epoch_end(state)
    hooks.on_fit_end(state)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.frozensets(st.sampled_from(SEED)), st.integers(-2, 2)),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.sampled_from([None, {"split": "test"}]),
    st.integers(1, 2),
)
def test_the_compiled_calls_deliver_what_the_adapter_functions_deliver(
    specs: list[tuple[frozenset[str], int]],
    grad_cb_used: bool,
    info: dict[str, str] | None,
    optimizers: int,
) -> None:
    """For any callbacks overriding any hooks, in any execution order, with the gradient
    hooks on or off: the calls made through the compiled relay equal those made through the
    adapter's own functions (which is how a timed call runs them), in the same order."""
    loop = SimpleNamespace(grad_cb_used=grad_cb_used, prediction_callbacks_info=info)
    log: list[Any] = []
    manager = PluginManager()
    for index, (hooks, order) in enumerate(specs):
        callback = callback_class(hooks)(f"cb{index}", log, order)
        manager.register(make_plugin(callback, loop))  # type: ignore[arg-type]
    state = ut.State()
    state.optimizers = [_Optimizer() for _ in range(optimizers)]  # type: ignore[list-item]
    _fire(manager, state)
    compiled = list(log)
    log.clear()
    manager.timer.start()  # the relay now calls each implementation's function
    _fire(manager, state)
    manager.timer.stop()
    assert compiled == log
    # and in the one order: ascending execution_order, ties in registration order
    ranks = {f"cb{index}": (order, index) for index, (_, order) in enumerate(specs)}
    begins = [name for name, hook, *_ in compiled if hook == "on_epoch_begin"]
    assert begins == sorted(begins, key=ranks.__getitem__)


@pytest.mark.parametrize("grads", [False, True])
def test_lifecycle_order_of_mixed_styles_in_one_step(grads: bool) -> None:
    """Native plugins, t3w side effects and aitoolbox callbacks with interleaved orders: every
    per-step event reaches them in the one order, forwarded or not."""
    t3w = pytest.importorskip("unitrain.compat.t3w")
    log: list[str] = []

    class SideEffect(t3w.ISideEffect):  # type: ignore[name-defined,misc]
        is_distributed = True
        order = 1

        def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
            log.append("t3w:start")

        def on_train_step_finished(self, loop: Any, step: int, mb: Any, ret: Any) -> None:
            log.append("t3w:end")

    class Native:
        def __init__(self, name: str, order: int) -> None:
            self.name, self.order = name, order

        def on_train_step_start(self, state: ut.State, batch: Any) -> None:
            log.append(f"{self.name}:start")

        def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
            log.append(f"{self.name}:end")

    class Callback(AbstractCallback):
        def on_train_loop_registration(self) -> None:
            self.train_loop_obj.grad_cb_used = grads

        def on_batch_begin(self) -> None:
            log.append(f"{self.callback_name}:start")

        def on_after_gradient_update(self, optimizer_idx: int) -> None:
            log.append(f"{self.callback_name}:grad")

        def on_batch_end(self) -> None:
            log.append(f"{self.callback_name}:end")

    callbacks = [
        Callback("cb2", execution_order=2),
        Native("native1", 1),
        SideEffect(),
        Callback("cb-1", execution_order=-1),
        Native("native0", 0),
        Callback("cb1", execution_order=1),
    ]
    make_loop(train=make_batches(count=1), val=None, end_auto_eval=False).fit(
        num_epochs=1, callbacks=callbacks
    )
    # the loop registers its native plugins and t3w side effects before its callbacks
    expected_order = ["cb-1", "native0", "native1", "t3w", "cb1", "cb2"]
    starts = [entry.split(":")[0] for entry in log if entry.endswith(":start")]
    ends = [entry.split(":")[0] for entry in log if entry.endswith(":end")]
    grad_entries = [entry.split(":")[0] for entry in log if entry.endswith(":grad")]
    assert starts == ends == expected_order
    assert grad_entries == (["cb-1", "cb1", "cb2"] if grads else [])
