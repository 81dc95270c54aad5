"""Cost of one event with K listeners: unitrain's compiled relay, pluggy, a plain loop, and
unitrain with listeners of each plugin style.

Each dispatcher delivers ``on_train_step_end(state, batch, result)`` to K no-op listeners:

- ``plain loop``: ``for method in methods: method(state, batch, result)`` (the floor);
- ``pluggy``: ``pm.hook.on_train_step_end(state=..., batch=..., result=...)`` on a bare
  ``pluggy.PluginManager`` with the same spec;
- ``unitrain``: ``manager.hooks.on_train_step_end(state, batch, result)`` through
  :class:`unitrain.PluginManager` (pluggy is the registry; dispatch is compiled);
- ``unitrain + wrapper``: the same with one ``wrapper=True`` implementation;
- ``unitrain, <style>``: K listeners of one style on a manager with a state, as a trainer's
  is: ``native`` plugins (the same as ``unitrain``, measured a second time: the difference
  between the two is the noise floor), t3w side effects (``on_train_step_finished``),
  aitoolbox callbacks (``on_batch_end``), and the styles dealt round-robin (``mixed``);
- ``unitrain, aitoolbox gated off``: ``on_after_optimizer_step`` to aitoolbox callbacks
  that override it while ``grad_cb_used`` is False (the compiled guard alone).

Timing: ``timeit`` batches of calls on the process's CPU clock (``--clock wall`` for wall
time), dispatchers interleaved per repeat, median over repeats; the per-listener cost is
the slope from the smallest to the largest K. Timing is load-sensitive, so each style's
Python calls per listener are counted too
(``sys.setprofile``, the same on every run): a native listener is one call.
Final lines: ``per_listener_us`` (unitrain, native), ``pluggy_per_listener_us``,
``plain_per_listener_us``, ``event_us`` (unitrain with no listener), ``pluggy_event_us``,
``speedup_vs_pluggy`` (at the largest K), ``noise_floor_us`` (the two native measurements'
slopes apart), ``<style>_per_listener_us`` and ``<style>_calls_per_listener`` per style.
Run: ``python benchmarks/dispatch.py`` (``--smoke``: a few thousand calls, seconds).
"""

from __future__ import annotations

import statistics
import sys
import timeit
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pluggy
from _common import CLOCKS, base_parser, emit, print_table
from _styles import NativeNoop, factories

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


def unitrain_call(k: int, wrapper: bool = False) -> Call:
    manager = ut.PluginManager()
    for _ in range(k):
        manager.register(NativeNoop())
    if wrapper:
        manager.register(_Wrapper(), name="wrapper")
    hook = manager.hooks.on_train_step_end
    state, batch, result = ut.State(), object(), ut.StepResult()
    return lambda: hook(state, batch, result)


def styled_call(k: int, makers: Sequence[Callable[[], object]], hook_name: str) -> Call:
    """K listeners made round-robin by ``makers`` on a manager with a state (a trainer's)."""
    manager = ut.PluginManager()
    state = manager.state = ut.State()
    for index in range(k):
        manager.register(makers[index % len(makers)]())
    hook = getattr(manager.hooks, hook_name)
    batch, result = object(), ut.StepResult()
    if hook_name == "on_train_step_end":
        return lambda: hook(state, batch, result)
    optimizer = object()
    return lambda: hook(state, optimizer, 0)


def python_calls(call: Call) -> int:
    """Python and builtin function calls one run of ``call`` makes."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


def _per_call_us(call: Call, number: int, clock: Callable[[], float]) -> float:
    return timeit.timeit(call, number=number, timer=clock) / number * 1e6


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 1, 10, 30])
    parser.add_argument("--number", type=int, default=20000, help="calls per timing")
    parser.add_argument("--smoke", action="store_true", help="2000 calls, 3 repeats, K 0 10")
    args = parser.parse_args(argv)
    if args.smoke:  # seconds: numbers printed, nothing asserted (CI)
        args.number, args.repeats, args.listeners = min(args.number, 2000), 3, [0, 10]
    counts: list[int] = sorted(set(args.listeners))
    made = dict(factories())
    builders: dict[str, Callable[[int], Call]] = {
        "plain loop": plain_call,
        "pluggy": pluggy_call,
        "unitrain": unitrain_call,
        "unitrain + wrapper": lambda k: unitrain_call(k, wrapper=True),
    }
    styles: dict[str, str] = {}  # emitted name -> dispatcher
    for style, maker in [*made.items(), ("mixed", None)]:
        makers = list(made.values()) if maker is None else [maker]
        name = f"unitrain, {style}"
        builders[name] = lambda k, m=makers: styled_call(k, m, "on_train_step_end")  # type: ignore[misc]
        styles[style] = name
    if "aitoolbox" in made:
        name = "unitrain, aitoolbox gated off"
        ait = made["aitoolbox"]
        builders[name] = lambda k: styled_call(k, [ait], "on_after_optimizer_step")
        styles["aitoolbox_gated"] = name
    calls = {(name, k): build(k) for name, build in builders.items() for k in counts}
    samples: dict[tuple[str, int], list[float]] = {key: [] for key in calls}
    for call in calls.values():
        call()  # warm-up
    for repeat in range(args.repeats):
        keys = list(calls)
        shift = repeat % len(keys)
        for key in [*keys[shift:], *keys[:shift]]:
            samples[key].append(_per_call_us(calls[key], args.number, CLOCKS[args.clock]))
    median: dict[tuple[str, int], float] = {
        key: statistics.median(values) for key, values in samples.items()
    }
    print(
        f"one event, K no-op listeners; {args.number} calls x {args.repeats} interleaved "
        f"repeats, {args.clock} clock; pluggy {pluggy.__version__}; "
        f"listener styles: {', '.join(made)}"
    )
    low, high = counts[0], counts[-1]

    def slope(name: str) -> float:
        if high == low:
            return float("nan")
        return float(median[(name, high)] - median[(name, low)]) / (high - low)

    def calls_per_listener(name: str) -> float:
        if high == low:
            return float("nan")
        extra = python_calls(calls[(name, high)]) - python_calls(calls[(name, low)])
        return extra / (high - low)

    rows = [
        [name, *(median[(name, k)] for k in counts), slope(name), calls_per_listener(name)]
        for name in builders
        if name not in ("plain loop", "pluggy")
    ]
    rows = [
        *([name, *(median[(name, k)] for k in counts), slope(name), "-"] for name in builders
          if name in ("plain loop", "pluggy")),
        *rows,
    ]  # fmt: skip
    print_table(
        "µs per event (median over repeats); Python calls per listener (counted)",
        ["dispatcher", *(f"K={k}" for k in counts), "µs/listener", "calls/listener"],
        rows,
    )
    native = slope("unitrain")
    noise = abs(native - slope(styles["native"]))
    print(
        f"\nnoise floor: the native listeners measured twice differ by {noise:.4f} µs per "
        "listener; per style, µs per listener beside native:"
    )
    for style, name in styles.items():
        print(f"  {style:<16} {slope(name):.4f} µs  ({slope(name) / native:.2f} x native)")
    values: dict[str, object] = {
        "per_listener_us": native,
        "pluggy_per_listener_us": slope("pluggy"),
        "plain_per_listener_us": slope("plain loop"),
        "event_us": median[("unitrain", low)],
        "pluggy_event_us": median[("pluggy", low)],
        "speedup_vs_pluggy": median[("pluggy", high)] / median[("unitrain", high)],
        "noise_floor_us": noise,
    }
    for style, name in styles.items():
        values[f"{style}_per_listener_us"] = slope(name)
        values[f"{style}_calls_per_listener"] = calls_per_listener(name)
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
