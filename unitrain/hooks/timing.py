"""Time spent in each hook implementation of each plugin (the profiler's hook view).

While a :class:`HookTimer` runs, the plugin manager compiles every hook's caller with each
plain implementation wrapped by :meth:`HookTimer.wrap`: two ``perf_counter_ns`` reads around
the call, added to a ``(plugin, hook)`` total. Stopping it recompiles the callers without
the wrapping, so a fit that is not profiled pays nothing. Wrappers (``wrapper=True``) are
not timed on their own: their set-up and teardown run around the implementations they wrap,
so their time is inside the hook's total, not attributable by two clock reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

__all__ = ["HookTimer", "HookTimes"]


@dataclass
class HookTimes:
    """Calls and nanoseconds per ``(plugin, hook)``."""

    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    nanoseconds: dict[tuple[str, str], int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, int, float, float]]:
        """``(plugin, hook, calls, total ms, mean µs)``, the most expensive first."""
        rows = [
            (plugin, hook, count, self.nanoseconds[plugin, hook] / 1e6,
             self.nanoseconds[plugin, hook] / count / 1e3)
            for (plugin, hook), count in self.calls.items()
        if count
        ]  # fmt: skip
        return sorted(rows, key=lambda row: (-row[3], row[0], row[1]))

    def by_plugin(self) -> dict[str, float]:
        """Total milliseconds per plugin, over every hook."""
        totals: dict[str, float] = {}
        for (plugin, _), ns in self.nanoseconds.items():
            totals[plugin] = totals.get(plugin, 0.0) + ns / 1e6
        return totals

    def table(self) -> str:
        """The rows as fixed-width text."""
        header = ("plugin", "hook", "calls", "total ms", "mean µs")
        lines = [(p, h, str(c), f"{t:.3f}", f"{m:.2f}") for p, h, c, t, m in self.rows()]
        widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
        return "\n".join(
            "  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
            for line in (header, *lines)
        )


class HookTimer:
    """Switched on and off by a profiler; the manager asks it to wrap implementations."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change  # the manager recompiles its callers
        self.running = False
        self.times = HookTimes()

    def start(self) -> None:
        """Start timing from the next hook call (the callers are recompiled)."""
        self.times = HookTimes()
        self.running = True
        self._on_change()

    def stop(self) -> HookTimes:
        """Stop timing (callers recompiled without it); return what was measured."""
        self.running = False
        self._on_change()
        return self.times

    def wrap(self, function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
        """``function`` with its time added to ``(plugin, hook)``."""
        key = (plugin, hook)
        calls, nanoseconds = self.times.calls, self.times.nanoseconds
        calls.setdefault(key, 0)
        nanoseconds.setdefault(key, 0)

        @functools.wraps(function)
        def timed(*args: Any) -> Any:
            start = perf_counter_ns()
            try:
                return function(*args)
            finally:
                nanoseconds[key] += perf_counter_ns() - start
                calls[key] += 1

        return timed
