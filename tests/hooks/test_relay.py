"""The compiled callers behave exactly like pluggy's own call, wrappers included.

Each scenario registers plugins on a unitrain PluginManager and calls one hook through the
compiled relay (``manager.hooks``), and through a bare pluggy manager holding the same
plugins, registered in the reverse order (pluggy calls the last registered first, so both
call in the same order; the unitrain manager never rewrites pluggy's own lists). Both must
return the same value or raise the same error, after the same sequence of calls.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pluggy
import pytest

import unitrain as ut
from unitrain.hooks.manager import PluginManager, _Pluggy
from unitrain.hooks.markers import PROJECT
from unitrain.hooks.specs import Hooks

PLUGGY = tuple(int(part) for part in pluggy.__version__.split(".")[:2])

Record = list[str]


def _call_both(
    plugins: list[object], hook: str, args: dict[str, Any], record: Record
) -> tuple[tuple[str, Any, Record], tuple[str, Any, Record]]:
    manager = PluginManager()
    for plugin in plugins:
        manager.register(plugin)
    reference = _Pluggy(PROJECT)
    reference.add_hookspecs(Hooks)
    for plugin in reversed(plugins):
        reference.register(plugin)
    outcomes = []
    calls: list[Callable[[], Any]] = [
        lambda: getattr(manager.hooks, hook)(*args.values()),
        lambda: getattr(reference.hook, hook)(**args),
    ]
    for call in calls:
        record.clear()
        try:
            outcome: tuple[str, Any] = ("returned", call())
        except BaseException as error:  # compared by type and message below
            outcome = ("raised", (type(error), str(error)))
        outcomes.append((*outcome, list(record)))
    return outcomes[0], outcomes[1]


def _plain(record: Record, tag: str, value: Any = None, error: bool = False) -> object:
    class Plain:
        name = tag

        def run_forward(self, state: Any, batch: Any) -> Any:
            record.append(tag)
            if error:
                raise ValueError(f"{tag} failed")
            return value

        def on_train_step_end(self, state: Any, result: Any) -> Any:
            record.append(tag)
            if error:
                raise ValueError(f"{tag} failed")
            return value

    return Plain()


WrapperBody = Callable[[Record, str], Generator[None, Any, Any]]


def _wrapper(record: Record, tag: str, body: WrapperBody) -> object:
    class Wrapper:
        name = tag

        @ut.hookimpl(wrapper=True)
        def run_forward(self, state: Any) -> Generator[None, Any, Any]:
            return (yield from body(record, tag))

        @ut.hookimpl(wrapper=True)
        def on_train_step_end(self, batch: Any) -> Generator[None, Any, Any]:
            return (yield from body(record, tag))

    return Wrapper()


def passthrough(record: Record, tag: str) -> Generator[None, Any, Any]:
    record.append(f"{tag}-before")
    try:
        return (yield)
    finally:
        record.append(f"{tag}-after")


def replacing(record: Record, tag: str) -> Generator[None, Any, Any]:
    result = yield
    record.append(f"{tag} saw {result!r}")
    return ("replaced", result)


def recovering(record: Record, tag: str) -> Generator[None, Any, Any]:
    try:
        return (yield)
    except ValueError as error:
        record.append(f"{tag} caught {error}")
        return "recovered"


def no_yield(record: Record, tag: str) -> Generator[None, Any, Any]:
    record.append(tag)
    return "never"
    yield  # type: ignore[unreachable]  # a generator that stops before its yield


def second_yield(record: Record, tag: str) -> Generator[None, Any, Any]:
    yield
    record.append(f"{tag} again")
    yield


def failing_setup(record: Record, tag: str) -> Generator[None, Any, Any]:
    record.append(tag)
    raise KeyError(tag)
    yield  # type: ignore[unreachable]


def failing_teardown(record: Record, tag: str) -> Generator[None, Any, Any]:
    yield
    raise LookupError(f"{tag} teardown")


SCENARIOS: dict[str, Callable[[Record], list[object]]] = {
    "plain only": lambda r: [_plain(r, "a"), _plain(r, "b", "B"), _plain(r, "c", "C")],
    "passthrough wrapper": lambda r: [
        _wrapper(r, "w", passthrough),
        _plain(r, "a"),
        _plain(r, "b", "B"),
    ],
    "wrapper replaces the result": lambda r: [_wrapper(r, "w", replacing), _plain(r, "a", "A")],
    "no plain result": lambda r: [_wrapper(r, "w", replacing), _plain(r, "a")],
    "wrapper recovers an error": lambda r: [
        _wrapper(r, "outer", passthrough),
        _wrapper(r, "w", recovering),
        _plain(r, "a", error=True),
        _plain(r, "b", "B"),
    ],
    "error passes through": lambda r: [_wrapper(r, "w", passthrough), _plain(r, "a", error=True)],
    "did not yield": lambda r: [
        _wrapper(r, "outer", passthrough),
        _wrapper(r, "w", no_yield),
        _plain(r, "a"),
    ],
    "second yield": lambda r: [_wrapper(r, "w", second_yield), _plain(r, "a", "A")],
    "setup raises": lambda r: [
        _wrapper(r, "outer", recovering),
        _wrapper(r, "w", failing_setup),
        _plain(r, "a"),
    ],
    "teardown raises into the outer wrapper": lambda r: [
        _wrapper(r, "outer", passthrough),
        _wrapper(r, "w", failing_teardown),
        _plain(r, "a", "A"),
    ],
}


@pytest.mark.parametrize("hook", ["run_forward", "on_train_step_end"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_compiled_call_matches_pluggy(scenario: str, hook: str) -> None:
    record: Record = []
    args = (
        {"state": ut.State(), "batch": "batch"}
        if hook == "run_forward"
        else {"state": ut.State(), "batch": "batch", "result": "result"}
    )
    compiled, reference = _call_both(SCENARIOS[scenario](record), hook, args, record)
    if hook.startswith("on_") and scenario == "plain only":
        # an unwrapped event returns None by the spec; pluggy returns its list of results
        assert compiled[1] is None and reference[1] == ["B", "C"]
        compiled = (compiled[0], reference[1], compiled[2])
    assert compiled == reference
    assert compiled[2], "every scenario calls at least one implementation"


def test_stage_stops_at_the_first_result_and_events_call_everyone() -> None:
    record: Record = []
    plugins = [_plain(record, "a"), _plain(record, "b", "B"), _plain(record, "c", "C")]
    manager = PluginManager()
    for plugin in plugins:
        manager.register(plugin)
    answer: Any = manager.hooks.run_forward(ut.State(), "batch")
    assert answer == "B"
    assert record == ["a", "b"]
    record.clear()
    returned: Any = manager.hooks.on_train_step_end(ut.State(), "batch", "result")  # type: ignore[arg-type]
    assert returned is None
    assert record == ["a", "b", "c"]


def test_error_from_a_wrapped_hook_gets_one_note() -> None:
    record: Record = []
    manager = PluginManager()
    manager.register(_wrapper(record, "w", passthrough))
    manager.register(_plain(record, "broken", error=True))
    with pytest.raises(ValueError, match="broken failed") as caught:
        manager.hooks.run_forward(ut.State(), "batch")
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1 and "in hook 'run_forward'" in notes[0]
    assert record == ["w-before", "broken", "w-after"]


def test_callers_of_the_same_shape_share_compiled_code() -> None:
    first, second = PluginManager(), PluginManager()
    record: Record = []
    first.register(_plain(record, "a"))
    second.register(_plain(record, "a"))
    compiled_first = first.hooks.on_train_step_end.__code__
    compiled_second = second.hooks.on_train_step_end.__code__
    assert compiled_first is compiled_second
    assert first.hooks.on_train_step_end is not second.hooks.on_train_step_end


class Defaulted:
    """``metrics=None``: a parameter with a default that the hook provides."""

    def __init__(self, record: list[Any]) -> None:
        self.record = record

    def on_eval_end(self, state: Any, split: str, metrics: Any = None) -> None:
        self.record.append((split, metrics))

    def on_train_step_end(self, state: Any, batch: Any = "unset", extra: Any = "kept") -> None:
        self.record.append((batch, extra))


def test_a_parameter_with_a_default_gets_the_hooks_argument() -> None:
    record: list[Any] = []
    manager = PluginManager()
    manager.register(Defaulted(record))
    metrics = {"accuracy": 0.5}
    manager.hooks.on_eval_end(ut.State(), "val", metrics)
    manager.hooks.on_train_step_end(ut.State(), "batch", "result")  # type: ignore[arg-type]
    # as pluggy >= 1.7 passes it; a parameter the hook lacks keeps its default
    assert record == [("val", metrics), ("batch", "kept")]
    assert record[0][1] is metrics


@pytest.mark.skipif(PLUGGY < (1, 7), reason="pluggy < 1.7 leaves defaulted parameters unset")
def test_defaulted_parameters_match_pluggy() -> None:
    record: list[Any] = []
    args = {"state": ut.State(), "split": "val", "metrics": {"loss": 1.0}}
    compiled, reference = _call_both([Defaulted(record)], "on_eval_end", args, record)
    assert compiled[2] == reference[2] == [("val", {"loss": 1.0})]


def test_a_run_of_fit_hands_the_metrics_to_a_defaulted_parameter() -> None:
    import torch

    from unitrain.testing import tiny_batches, tiny_task

    record: list[Any] = []
    trainer = ut.Trainer(tiny_task(), plugins=[Defaulted(record)], max_epochs=1, device="cpu")
    trainer.fit(tiny_batches(), eval_data=tiny_batches())
    evals = [entry for entry in record if entry[0] == "val"]
    assert evals and isinstance(evals[-1][1], dict) and "loss" in evals[-1][1]
    assert all(isinstance(entry[0], list | tuple | torch.Tensor) for entry in record[:-1])


def test_the_manager_keeps_its_order_out_of_pluggys_lists() -> None:
    record: Record = []
    plugins = [_plain(record, "a"), _plain(record, "b"), _plain(record, "c")]
    manager = PluginManager()
    for plugin in plugins:
        manager.register(plugin)
    caller = manager._pluggy.hook.run_forward
    pluggy_order = [impl.plugin_name for impl in caller.get_hookimpls()]
    assert pluggy_order == ["a", "b", "c"]  # registration order, as pluggy keeps it
    assert [impl.plugin_name for impl in manager.implementations("run_forward")] == [
        "a",
        "b",
        "c",
    ]
    manager.register(_plain(record, "first"), order=-1)
    assert manager.implementations("run_forward")[0].plugin_name == "first"
    assert [impl.plugin_name for impl in caller.get_hookimpls()][-1] == "first"
