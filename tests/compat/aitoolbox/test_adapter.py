"""The adapter: golden event traces of the aitoolbox hook order, the one order across
styles, only overridden hooks wired, the rank rule."""

from __future__ import annotations

import pytest

import unitrain as ut
from tests.compat.aitoolbox._tiny import Trace, make_batches, make_loop
from unitrain.compat.aitoolbox import AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin, overridden_hooks

BATCH_NO_UPDATE = ["batch_begin", "after_gradient_update(0)", "batch_end"]
BATCH_UPDATE = ["batch_begin", "after_gradient_update(0)", "after_optimizer_step", "batch_end"]


def _hooks(log: list[str], name: str = "a") -> list[str]:
    return [entry.split(":", 1)[1] for entry in log if entry.startswith(f"{name}:")]


def test_golden_trace_with_grad_hooks_under_accumulation() -> None:
    log: list[str] = []
    loop = make_loop(train=make_batches(count=3), val=None, end_auto_eval=False)
    loop.fit(num_epochs=1, callbacks=[Trace("a", log, grads=True)], grad_accumulation=2)
    assert _hooks(log) == [
        "registration",
        "train_begin",
        "epoch_begin",
        *BATCH_NO_UPDATE,  # batch 0: window of 2 not complete
        *BATCH_UPDATE,  # batch 1: the window ends, the optimizer steps
        *BATCH_UPDATE,  # batch 2: last, partial window of the epoch also steps
        "epoch_end",
        "train_end",
    ]


def test_grad_hooks_only_with_grad_cb_used() -> None:
    log: list[str] = []
    loop = make_loop(train=make_batches(count=2), val=None, end_auto_eval=False)
    loop.fit(num_epochs=1, callbacks=[Trace("a", log)])
    assert _hooks(log) == [
        "registration",
        "train_begin",
        "epoch_begin",
        "batch_begin",
        "batch_end",
        "batch_begin",
        "batch_end",
        "epoch_end",
        "train_end",
    ]


def test_gradient_hook_sees_gradients_before_the_step() -> None:
    seen: list[tuple[bool, bool]] = []

    class Probe(AbstractCallback):
        def on_train_loop_registration(self) -> None:
            self.train_loop_obj.grad_cb_used = True

        def on_after_gradient_update(self, optimizer_idx: int) -> None:
            weight = self.train_loop_obj.model.body[0].weight
            seen.append((weight.grad is not None, self.train_loop_obj.total_iteration_idx >= 0))

    make_loop(val=None).fit(num_epochs=1, callbacks=[Probe("probe")])
    assert seen == [(True, True)] * 4


def test_one_order_across_aitoolbox_t3w_and_native_plugins() -> None:
    t3w = pytest.importorskip("unitrain.compat.t3w")
    log: list[str] = []

    class SideEffect(t3w.ISideEffect):
        def on_train_epoch_finished(self, loop: object, epoch: int) -> None:
            log.append("t3w:epoch_end")

    class Native:
        def __init__(self, name: str, order: int) -> None:
            self.name, self.order = name, order

        def on_epoch_end(self, state: ut.State) -> None:
            log.append(f"{self.name}:epoch_end")

    callbacks = [
        Trace("cb99", log, execution_order=99),
        SideEffect(),
        Native("native0", 0),
        Native("native100", 100),
        Trace("cb100", log, execution_order=100),
        Trace("cb-5", log, execution_order=-5),
    ]
    make_loop(val=None, end_auto_eval=False).fit(num_epochs=1, callbacks=callbacks)
    ends = [entry.split(":")[0] for entry in log if entry.endswith(":epoch_end")]
    # ascending order; ties (native100 / cb100) in registration order, native plugins first
    assert ends == ["cb-5", "t3w", "native0", "cb99", "native100", "cb100"]


def test_only_overridden_hooks_are_wired() -> None:
    class EpochOnly(AbstractCallback):
        def on_epoch_end(self) -> None:
            pass

    assert overridden_hooks(EpochOnly) == ["on_epoch_end"]
    loop = make_loop(val=None)
    loop.fit(num_epochs=1, callbacks=[EpochOnly("epoch-only", execution_order=7)])
    manager = loop.trainer.plugins  # type: ignore[union-attr]
    assert "epoch-only" in manager.names
    assert manager.record("epoch-only").order == 7
    step_impls = [i.plugin_name for i in manager.implementations("on_train_step_end")]
    assert "epoch-only" not in step_impls


def test_device_idx_execution_is_the_rank_rule() -> None:
    log: list[str] = []
    loop = make_loop(val=None, end_auto_eval=False)
    loop.fit(num_epochs=1, callbacks=[Trace("gpu1", log, device_idx_execution=1)])
    assert loop.trainer.plugins.skipped == {"gpu1": 1}  # type: ignore[union-attr]
    assert _hooks(log, "gpu1") == ["registration"]  # registered with the loop, never run
    plugin = make_plugin(Trace("gpu0", log, device_idx_execution=0), loop)
    assert plugin.ranks == 0 and plugin.order == 0


def test_callback_errors_name_the_callback() -> None:
    class Broken(AbstractCallback):
        def on_batch_end(self) -> None:
            raise RuntimeError("broken callback")

    with pytest.raises(RuntimeError, match="broken callback") as caught:
        make_loop(val=None).fit(num_epochs=1, callbacks=[Broken("broken")])
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "'broken'" in notes and "on_train_step_end" in notes


def test_bad_execution_order_is_refused() -> None:
    with pytest.raises(ut.ConfigError, match="execution_order"):
        AbstractCallback("x", execution_order="late")  # type: ignore[arg-type]
    with pytest.raises(ut.ConfigError, match="device_idx_execution"):
        AbstractCallback("x", device_idx_execution=-1)


def test_golden_trace_interleaves_orders_and_a_native_plugin() -> None:
    log: list[str] = []

    class Native:
        name = "native"

        def _add(self, hook: str) -> None:
            log.append(f"native:{hook}")

        def on_train_step_start(self) -> None:
            self._add("train_step_start")

        def on_after_backward(self) -> None:
            self._add("after_backward")

        def on_before_optimizer_step(self) -> None:
            self._add("before_optimizer_step")

        def on_after_optimizer_step(self) -> None:
            self._add("after_optimizer_step")

        def on_train_step_end(self) -> None:
            self._add("train_step_end")

    late, early = Trace("late", log, 5, grads=True), Trace("early", log, -1, grads=True)
    loop = make_loop(train=make_batches(count=2), val=None, end_auto_eval=False)
    loop.fit(num_epochs=1, callbacks=[late, Native(), early], grad_accumulation=2)
    lifecycle = ("registration", "train_begin", "train_end", "epoch")
    steps = [e for e in log if not e.split(":")[1].startswith(lifecycle)]
    assert steps == [
        # batch 0: the window does not end, no optimizer step
        "early:batch_begin", "native:train_step_start", "late:batch_begin",
        "early:after_gradient_update(0)", "native:after_backward", "late:after_gradient_update(0)",
        "early:batch_end", "native:train_step_end", "late:batch_end",
        # batch 1: the window ends; the gradient hook fires right before the step
        "early:batch_begin", "native:train_step_start", "late:batch_begin",
        "native:after_backward",
        "early:after_gradient_update(0)",
        "native:before_optimizer_step",
        "late:after_gradient_update(0)",
        "early:after_optimizer_step", "native:after_optimizer_step", "late:after_optimizer_step",
        "early:batch_end", "native:train_step_end", "late:batch_end",
    ]  # fmt: skip


def test_callbacks_handler_registers_during_a_fit() -> None:
    log: list[str] = []

    class AddLater(AbstractCallback):
        def on_epoch_end(self) -> None:
            if self.train_loop_obj.epoch == 0:
                self.train_loop_obj.callbacks_handler.register_callbacks([Trace("added", log)])

    loop = make_loop(val=None, end_auto_eval=False)
    loop.fit(num_epochs=2, callbacks=[AddLater("adder")])
    assert _hooks(log, "added")[:3] == ["registration", "epoch_begin", "batch_begin"]
    assert _hooks(log, "added")[-2:] == ["epoch_end", "train_end"]
    handler = loop.callbacks_handler
    assert "adder" in handler and Trace in handler and "missing" not in handler
