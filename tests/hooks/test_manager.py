"""The plugin manager: names, the one order, the rank rule, validation, error attribution."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import unitrain as ut
from tests.conftest import Recorder


class Quiet:
    def on_fit_start(self, state: ut.State) -> None: ...


class Named:
    name = "custom"
    order = 5
    ranks = "main"

    def on_fit_start(self, state: ut.State) -> None: ...


# ---------------------------------------------------------------- names


def test_names_explicit_from_attribute_or_class() -> None:
    manager = ut.PluginManager()
    assert manager.register(Quiet()) == "quiet"
    assert manager.register(Quiet()) == "quiet-2"
    assert manager.register(Named()) == "custom"
    assert manager.register(Quiet(), name="mine") == "mine"
    assert manager.register(Recorder()) == "recorder"
    assert set(manager.names) == {"quiet", "quiet-2", "custom", "mine", "recorder"}
    assert "mine" in manager and isinstance(manager.get("mine"), Quiet)
    assert manager.get("missing") is None


def test_a_taken_name_is_an_error() -> None:
    manager = ut.PluginManager()
    first = Quiet()
    manager.register(first, name="one")
    with pytest.raises(ut.PluginError, match="a plugin named 'one' is already registered"):
        manager.register(Quiet(), name="one")
    with pytest.raises(ut.PluginError, match="'two' cannot be registered"):
        manager.register(first, name="two")  # the same object twice
    with pytest.raises(ut.PluginError, match="non-empty string"):
        manager.register(Quiet(), name="")
    assert manager.names == ["one"]


def test_unregister() -> None:
    manager = ut.PluginManager()
    plugin = Quiet()
    manager.register(plugin, name="q")
    assert manager.unregister("q") is plugin
    assert "q" not in manager and manager.implementations("on_fit_start") == []
    with pytest.raises(
        ut.PluginError, match=r"no plugin named 'q' is registered; registered: \[\]"
    ):
        manager.unregister("q")
    manager.register(plugin, name="q")  # may come back


# ---------------------------------------------------------------- order and ranks


def test_order_from_the_attribute_or_the_argument() -> None:
    manager = ut.PluginManager()
    manager.register(Named())  # order 5 from the class
    manager.register(Quiet(), name="late", order=9)
    manager.register(Quiet(), name="early", order=-1)
    manager.register(Named(), name="override", order=0)
    assert manager.names == ["early", "override", "custom", "late"]
    assert manager.record("custom").order == 5 and manager.record("override").order == 0
    callers = [impl.plugin_name for impl in manager.implementations("on_fit_start")]
    assert callers == manager.names


@pytest.mark.parametrize("order", ["1", 1.5, True, None])
def test_bad_order(order: object) -> None:
    plugin = Quiet()
    plugin.order = order  # type: ignore[attr-defined]
    with pytest.raises(ut.PluginError, match=r"plugin 'quiet': order must be an int, got"):
        ut.PluginManager().register(plugin)


@pytest.mark.parametrize(
    ("rank", "local_rank", "rule", "registered"),
    [
        (0, 0, "all", True),
        (3, 1, "all", True),
        (0, 0, "main", True),
        (1, 0, "main", False),
        (5, 1, 1, True),
        (4, 0, 1, False),
    ],
)
def test_rank_rule(rank: int, local_rank: int, rule: Any, registered: bool) -> None:
    manager = ut.PluginManager(rank=rank, local_rank=local_rank)
    name = manager.register(Quiet(), ranks=rule)
    assert (name == "quiet") == registered and ("quiet" in manager) == registered
    assert manager.skipped == ({} if registered else {"quiet": rule})
    assert len(manager.implementations("on_fit_start")) == int(registered)


def test_rank_rule_from_the_attribute() -> None:
    assert ut.PluginManager(rank=1).register(Named()) is None
    assert ut.PluginManager(rank=0).register(Named()) == "custom"


@pytest.mark.parametrize("rule", ["rank0", -1, 1.0, True])
def test_bad_rank_rule(rule: object) -> None:
    with pytest.raises(ut.PluginError, match=r"plugin 'quiet': .*rank"):
        ut.PluginManager().register(Quiet(), ranks=rule)  # type: ignore[arg-type]


# ---------------------------------------------------------------- what counts as a hook


def test_helpers_and_attributes_are_not_hooks() -> None:
    class Helper:
        on_the_way = "an attribute, not a method"

        @ut.not_a_hook
        def run_report(self) -> str:
            return "helper"

        def on_fit_end(self, state: ut.State) -> None: ...

    manager = ut.PluginManager()
    manager.register(Helper())
    manager.check_pending()
    assert len(manager.implementations("on_fit_end")) == 1


def test_old_style_wrappers_are_rejected() -> None:
    class Old:
        @ut.hookimpl(hookwrapper=True)
        def run_forward(self, state: ut.State) -> Generator[None, Any, None]:
            yield

    manager = ut.PluginManager()
    with pytest.raises(ut.PluginError, match=r"'old': hook 'run_forward' uses the old-style"):
        manager.register(Old())
    assert "old" not in manager and manager.implementations("run_forward") == []


def test_hooks_facade_rejects_unknown_names() -> None:
    with pytest.raises(AttributeError, match=r"'on_fit_strat'.*Did you mean 'on_fit_start'"):
        ut.PluginManager().hooks.on_fit_strat  # type: ignore[attr-defined]  # noqa: B018


def test_a_stage_with_no_implementation_answers_none() -> None:
    manager = ut.PluginManager()
    assert manager.hooks.run_forward(ut.State(), None) is None
    assert manager.hooks.on_fit_start(ut.State()) is None


def test_impls_receive_only_the_arguments_they_name() -> None:
    got: list[object] = []

    class Picky:
        def on_eval_end(self, metrics: dict[str, float], split: str) -> None:
            got.append((split, metrics))

    manager = ut.PluginManager()
    manager.register(Picky())
    manager.hooks.on_eval_end(ut.State(), "val", {"loss": 1.0})
    assert got == [("val", {"loss": 1.0})]


# ---------------------------------------------------------------- errors


class Boom:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def on_epoch_end(self, state: ut.State) -> None:
        if self.fail:
            raise KeyError("boom")


def test_error_note_names_the_right_instance_of_a_shared_class() -> None:
    manager = ut.PluginManager()
    manager.register(Boom(False), name="calm")
    manager.register(Boom(True), name="angry")
    manager.register(Boom(False), name="after")
    manager.state = ut.State(epoch=2, batch_idx=7, global_step=30)
    with pytest.raises(KeyError) as caught:
        manager.hooks.on_epoch_end(manager.state)
    assert caught.value.__notes__ == [
        "unitrain: raised by plugin 'angry' in hook 'on_epoch_end' (phase idle, epoch 2, "
        "batch_idx 7, global_step 30)"
    ]


def test_error_note_before_the_engine_started() -> None:
    manager = ut.PluginManager()
    manager.register(Boom(True), name="early")
    with pytest.raises(KeyError) as caught:
        manager.hooks.on_epoch_end(ut.State())
    (note,) = caught.value.__notes__
    assert "plugin 'early' in hook 'on_epoch_end'" in note and "no step yet" in note


def test_error_in_a_wrapper_after_yield_names_the_wrapper() -> None:
    class Timer:
        @ut.hookimpl(wrapper=True)
        def on_epoch_end(self, state: ut.State) -> Generator[None, Any, Any]:
            yield
            raise ValueError("timer broke")

    manager = ut.PluginManager()
    manager.register(Boom(False), name="fine")
    manager.register(Timer())
    with pytest.raises(ValueError, match="timer broke") as caught:
        manager.hooks.on_epoch_end(ut.State())
    assert "plugin 'timer' in hook 'on_epoch_end'" in caught.value.__notes__[0]


def test_notify_exception_runs_every_impl_in_order_isolated() -> None:
    calls: list[str] = []

    class Watcher:
        def __init__(self, label: str, fail: bool = False) -> None:
            self.label, self.fail = label, fail

        def on_exception(self, error: BaseException) -> None:
            calls.append(self.label)
            if self.fail:
                raise RuntimeError(f"{self.label} failed too")

    manager = ut.PluginManager()
    manager.register(Watcher("b", fail=True), name="b", order=2)
    manager.register(Watcher("a", fail=True), name="a", order=1)
    manager.register(Watcher("c"), name="c", order=3)
    error = ValueError("original")
    manager.notify_exception(ut.State(), error)
    assert calls == ["a", "b", "c"]
    assert error.__notes__ == [
        "unitrain: on_exception of plugin 'a' also raised RuntimeError: a failed too",
        "unitrain: on_exception of plugin 'b' also raised RuntimeError: b failed too",
    ]


def test_a_class_instead_of_an_instance_is_rejected() -> None:
    with pytest.raises(
        ut.PluginError, match=r"the class Quiet, not an instance.*register Quiet\(\)"
    ):
        ut.PluginManager().register(Quiet)

    class Static:  # a class whose hooks need no instance is a valid plugin, as in pluggy
        @staticmethod
        def on_fit_start(state: ut.State) -> None:
            state.request_stop("now", reason="static")

    manager = ut.PluginManager()
    manager.register(Static)
    state = ut.State()
    manager.hooks.on_fit_start(state)
    assert state.stop_reason == "static"


def test_overrides_inherit_the_marks_of_the_overridden_method() -> None:
    class Base:
        @ut.hookimpl(trylast=True)
        def on_fit_start(self, state: ut.State) -> None: ...

        @ut.not_a_hook
        def run_summary(self) -> None: ...

    class Child(Base):
        def on_fit_start(self, state: ut.State) -> None: ...

        def run_summary(self) -> None: ...  # still a helper, not a misspelt hook

    manager = ut.PluginManager()
    manager.register(Child(), name="child")
    manager.register(Quiet(), name="quiet", order=10)
    assert [i.plugin_name for i in manager.implementations("on_fit_start")] == ["quiet", "child"]


class _Only:
    name = "only"

    def run_forward(self, state: Any, batch: Any) -> Any:
        raise ValueError("only failed")

    def on_train_step_end(self, state: Any) -> None:
        return None


def test_bound_gives_nothing_the_implementation_or_the_relay() -> None:
    manager = ut.PluginManager()
    assert manager.bound("run_forward") is None  # nobody implements it: nothing to call
    only = _Only()
    manager.register(only)
    assert manager.bound("run_forward") == only.run_forward  # one, taking the spec's args
    # one implementation taking a subset of the arguments: the relay adapts the call
    assert manager.bound("on_train_step_end") is manager.hooks.on_train_step_end
    with pytest.raises(ValueError, match="only failed") as caught:
        manager.bound("run_forward")(None, "batch")  # type: ignore[misc]
    assert not getattr(caught.value, "__notes__", None)  # bound straight: no note yet
    manager.note_raised(caught.value, ["on_train_step_end", "run_forward"])
    manager.note_raised(caught.value, ["run_forward"])  # a second call adds nothing
    (note,) = caught.value.__notes__
    assert "plugin 'only' in hook 'run_forward'" in note


def test_plans_are_dropped_when_the_plugin_set_changes() -> None:
    manager = ut.PluginManager()
    manager.plans["train_step"] = object()
    name = manager.register(_Only())
    assert manager.plans == {}
    manager.plans["train_step"] = object()
    manager.unregister(name or "")
    assert manager.plans == {}
