"""Cost of one event with K listeners: unitrain's compiled relay, pluggy, a plain loop.

Each dispatcher delivers ``on_train_step_end(state, batch, result)`` to K no-op listeners:

- ``plain loop``: ``for method in methods: method(state, batch, result)`` (the floor);
- ``pluggy``: ``pm.hook.on_train_step_end(state=..., batch=..., result=...)`` on a bare
  ``pluggy.PluginManager`` with the same spec;
- ``unitrain``: ``manager.hooks.on_train_step_end(state, batch, result)`` through
  :class:`unitrain.PluginManager` (pluggy is the registry; dispatch is compiled);
- ``unitrain + wrapper``: the same with one ``wrapper=True`` implementation, which makes
  unitrain hand the call to pluggy (wrappers keep pluggy's exact semantics).

Timing: ``timeit`` batches of calls, dispatchers interleaved per repeat, median over
repeats. Final lines: ``per_listener_us`` (unitrain, slope from K=0 to the largest K),
``pluggy_per_listener_us``, ``plain_per_listener_us``, ``event_us`` (unitrain with no
listener), ``pluggy_event_us``, ``speedup_vs_pluggy`` (at the largest K).
Run: ``python benchmarks/dispatch.py``.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pluggy
from _common import base_parser, emit, print_table
from _styles import NativeNoop, noop_plugins

import unitrain as ut

_BENCH = "unitrain_dispatch_bench"
_spec = pluggy.HookspecMarker(_BENCH)


class _Spec:
    @_spec
    def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
        """The same signature as unitrain's hook."""


class _Wrapper:
    @ut.hookimpl(wrapper=True)
    def on_train_step_end(self, state: Any) -> Generator[None, Any, Any]:
        return (yield)


Call = Callable[[], object]


def plain_call(k: int) -> Call:
    methods = [NativeNoop().on_train_step_end for _ in range(k)]
    state, batch, result = object(), object(), object()

    def call() -> None:
        for method in methods:
            method(state, batch, result)

    return call


def pluggy_call(k: int) -> Call:
    manager = pluggy.PluginManager(_BENCH)
    manager.add_hookspecs(_Spec)
    marker = pluggy.HookimplMarker(_BENCH)

    class Listener:
        @marker
        def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
            pass

    for index in range(k):
        manager.register(Listener(), name=f"p{index}")
    hook = manager.hook.on_train_step_end
    state, batch, result = object(), object(), object()
    return lambda: hook(state=state, batch=batch, result=result)


def unitrain_call(k: int, wrapper: bool = False, mixed: bool = False) -> Call:
    manager = ut.PluginManager()
    plugins = noop_plugins(k)[0] if mixed else [NativeNoop() for _ in range(k)]
    for plugin in plugins:
        manager.register(plugin)
    if wrapper:
        manager.register(_Wrapper(), name="wrapper")
    hook = manager.hooks.on_train_step_end
    state, batch, result = ut.State(), object(), ut.StepResult()
    return lambda: hook(state, batch, result)


def _per_call_us(call: Call, number: int) -> float:
    return timeit.timeit(call, number=number) / number * 1e6


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 1, 10, 30])
    parser.add_argument("--number", type=int, default=20000, help="calls per timing")
    args = parser.parse_args(argv)
    counts: list[int] = sorted(set(args.listeners))
    _, styles = noop_plugins(1)
    builders: dict[str, Callable[[int], Call]] = {
        "plain loop": plain_call,
        "pluggy": pluggy_call,
        "unitrain": unitrain_call,
        "unitrain + wrapper": lambda k: unitrain_call(k, wrapper=True),
    }
    if len(styles) > 1:
        builders[f"unitrain, styles {'+'.join(styles)}"] = lambda k: unitrain_call(k, mixed=True)
    calls = {(name, k): build(k) for name, build in builders.items() for k in counts}
    samples: dict[tuple[str, int], list[float]] = {key: [] for key in calls}
    for call in calls.values():
        call()  # warm-up
    for repeat in range(args.repeats):
        keys = list(calls)
        shift = repeat % len(keys)
        for key in [*keys[shift:], *keys[:shift]]:
            samples[key].append(_per_call_us(calls[key], args.number))
    median: dict[tuple[str, int], float] = {
        key: statistics.median(values) for key, values in samples.items()
    }
    print(
        f"one event, K no-op listeners; {args.number} calls x {args.repeats} interleaved "
        f"repeats; pluggy {pluggy.__version__}; listener styles: {', '.join(styles)}"
    )
    low, high = counts[0], counts[-1]

    def slope(name: str) -> float:
        if high == low:
            return float("nan")
        return float(median[(name, high)] - median[(name, low)]) / (high - low)

    rows = [[name, *(median[(name, k)] for k in counts), slope(name)] for name in builders]
    print_table(
        "µs per event (median over repeats)",
        ["dispatcher", *(f"K={k}" for k in counts), "µs/listener"],
        rows,
    )
    values: dict[str, object] = {
        "per_listener_us": slope("unitrain"),
        "pluggy_per_listener_us": slope("pluggy"),
        "plain_per_listener_us": slope("plain loop"),
        "event_us": median[("unitrain", low)],
        "pluggy_event_us": median[("pluggy", low)],
        "speedup_vs_pluggy": median[("pluggy", high)] / median[("unitrain", high)],
    }
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
