"""``Profiler``: where a step's time goes — torch's operators, and unitrain's hooks.

Two views, each switchable:

- ``torch_trace=True``: :mod:`torch.profiler` over a window of training steps (``wait``
  skipped, ``warmup`` recorded but dropped, ``active`` kept), the window's Chrome trace
  written as ``profile/trace.json`` (open it in ``chrome://tracing`` or Perfetto) and the
  operator table (``key_averages``, sorted by total CPU time, or CUDA time on a GPU) as
  ``profile/operators.txt``. Into the run folder when a run store is present, else into
  ``directory``.
- ``hook_times=True``: the time spent in each hook implementation of each plugin, over the
  whole fit, measured by the plugin manager around each call (see
  :class:`unitrain.hooks.timing.HookTimer`, the manager's ``timer``), written as
  ``profile/hooks.txt`` and kept in ``hook_table``; the engine's own time is what is left
  of the step.

The trace costs what torch's profiler costs while the window is active; the hook timer
adds two clock reads per hook implementation call for the whole fit. Neither belongs in
a run whose speed matters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unitrain.core.keys import HOOK_TIMER
from unitrain.errors import ConfigError
from unitrain.hooks.timing import HookTimes
from unitrain.log import get_logger
from unitrain.plugins.run_store import RUN_DIR

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["Profiler"]

_log = get_logger("plugins.profiler")


class Profiler:
    """torch.profiler over a window of steps, and the time of every plugin's hooks."""

    name = "profiler"
    ranks = "main"

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        torch_trace: bool = True,
        hook_times: bool = True,
        wait: int = 1,
        warmup: int = 1,
        active: int = 3,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
    ) -> None:
        problems = [
            f"{name}={value!r} must be an int >= {low}"
            for name, value, low in (
                ("wait", wait, 0),
                ("warmup", warmup, 0),
                ("active", active, 1),
            )
            if isinstance(value, bool) or not isinstance(value, int) or value < low
        ]
        if not (torch_trace or hook_times):
            problems.append("torch_trace and hook_times are both off: nothing to profile")
        if problems:
            raise ConfigError("Profiler: " + "; ".join(problems))
        self.directory = None if directory is None else Path(directory)
        self.torch_trace, self.hook_times = torch_trace, hook_times
        self.wait, self.warmup, self.active = wait, warmup, active
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack = with_stack
        self.hook_table: HookTimes | None = None
        self.operator_table = ""
        self.output: Path | None = None
        self._profile: Any = None
        self._steps = 0

    def on_fit_start(self, state: State) -> None:
        self.output = self._output_dir(state)
        self._steps = 0
        if self.hook_times:
            timer = state.stash.get(HOOK_TIMER)
            if timer is None:
                raise ConfigError(
                    "Profiler(hook_times=True): this trainer's plugin manager offers no hook "
                    "timer; pass hook_times=False"
                )
            timer.start()
        if self.torch_trace:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if state.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            schedule = torch.profiler.schedule(
                wait=self.wait, warmup=self.warmup, active=self.active, repeat=1
            )
            self._profile = torch.profiler.profile(
                activities=activities,
                schedule=schedule,
                on_trace_ready=self._trace_ready,
                record_shapes=self.record_shapes,
                profile_memory=self.profile_memory,
                with_stack=self.with_stack,
            )
            self._profile.__enter__()

    def on_train_step_end(self, state: State) -> None:
        if self._profile is not None:
            self._profile.step()
            self._steps += 1

    def on_fit_end(self, state: State) -> None:
        self._finish(state)

    def on_exception(self, state: State) -> None:
        self._finish(state)

    def _finish(self, state: State) -> None:
        if self._profile is not None:
            profile, self._profile = self._profile, None
            profile.__exit__(None, None, None)
            if not self.operator_table:
                _log.warning(
                    "Profiler: the fit ran %d steps, fewer than wait + warmup + active = %d; "
                    "no trace was written",
                    self._steps,
                    self.wait + self.warmup + self.active,
                )
        timer = state.stash.get(HOOK_TIMER)
        if self.hook_times and timer is not None and timer.running:
            self.hook_table = timer.stop()
            assert self.output is not None
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "hooks.txt").write_text(self.hook_table.table() + "\n")
            _log.info("time per hook and plugin written to %s", self.output / "hooks.txt")

    def _trace_ready(self, profile: Any) -> None:
        assert self.output is not None
        self.output.mkdir(parents=True, exist_ok=True)
        profile.export_chrome_trace(str(self.output / "trace.json"))
        sort = "self_cuda_time_total" if self._profile_has_cuda(profile) else "cpu_time_total"
        self.operator_table = profile.key_averages().table(sort_by=sort, row_limit=40)
        (self.output / "operators.txt").write_text(self.operator_table + "\n")

    @staticmethod
    def _profile_has_cuda(profile: Any) -> bool:
        return any(a == torch.profiler.ProfilerActivity.CUDA for a in profile.activities)

    def _output_dir(self, state: State) -> Path:
        run = state.stash.get(RUN_DIR)
        if run is not None:
            return run.path / "profile"
        if self.directory is None:
            raise ConfigError(
                "Profiler: no run store is registered and no directory was given; pass "
                "Profiler(directory=...) or add RunStore() to the plugins"
            )
        return self.directory / "profile"
