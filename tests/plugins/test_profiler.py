"""Profiler: torch's trace and operator table, and the time of every plugin's hooks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.errors import ConfigError
from unitrain.plugins.profiler import Profiler
from unitrain.plugins.run_store import RunStore


class Slow:
    """Sleeps 2 ms in every train step end: the hook table must put it first."""

    def on_train_step_end(self, state: Any) -> None:
        time.sleep(0.002)


class Quick:
    def on_train_step_start(self, state: Any) -> None:
        pass


def test_trace_operators_and_hook_times_into_the_run(tmp_path: Path) -> None:
    profiler = Profiler(wait=1, warmup=1, active=2)
    plugins = [RunStore(tmp_path), profiler, Slow(), Quick()]
    trainer = ut.Trainer(make_task(), plugins=plugins, max_epochs=2, device="cpu")
    trainer.fit(make_batches(count=4))
    (run,) = (tmp_path / "default").iterdir()
    out = run / "profile"
    trace = json.loads((out / "trace.json").read_text())
    assert any(e.get("name", "").startswith("aten::") for e in trace["traceEvents"])
    assert "aten::" in (out / "operators.txt").read_text()
    table = profiler.hook_table
    assert table is not None
    assert table.calls["slow", "on_train_step_end"] == 8
    assert table.calls["quick", "on_train_step_start"] == 8
    assert table.nanoseconds["slow", "on_train_step_end"] >= 8 * 2_000_000
    ranked = [row[:2] for row in table.rows()]  # the most expensive first
    assert ranked.index(("slow", "on_train_step_end")) < ranked.index(
        ("quick", "on_train_step_start")
    )
    assert (out / "hooks.txt").read_text().splitlines()[0].split()[:3] == [
        "plugin",
        "hook",
        "calls",
    ]


def test_timing_stops_with_the_fit(tmp_path: Path) -> None:
    profiler = Profiler(tmp_path, torch_trace=False)
    trainer = ut.Trainer(make_task(), plugins=[profiler, Slow()], max_epochs=1, device="cpu")
    trainer.fit(make_batches(count=2))
    assert profiler.hook_table is not None and not trainer.plugins.timer.running
    counted = dict(profiler.hook_table.calls)
    assert counted["task", "run_eval_step"] == 0 or ("task", "run_eval_step") not in counted
    trainer.evaluate(make_batches(count=2))  # hooks called after the fit: not timed
    assert profiler.hook_table.calls == counted
    assert trainer.plugins.timer.times.calls == counted


def test_too_short_a_fit_writes_no_trace_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profiler = Profiler(tmp_path, hook_times=False, wait=2, warmup=2, active=2)
    ut.Trainer(make_task(), plugins=[profiler], max_steps=3, device="cpu").fit(make_batches())
    assert not (tmp_path / "profile" / "trace.json").exists()
    assert "fewer than wait + warmup + active = 6" in caplog.text


def test_settings_and_a_missing_directory_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"active=0 must be an int >= 1.*nothing to profile"):
        Profiler(active=0, torch_trace=False, hook_times=False)
    trainer = ut.Trainer(make_task(), plugins=[Profiler()], max_steps=1, device="cpu")
    with pytest.raises(ConfigError, match="no run store is registered and no directory"):
        trainer.fit(make_batches())
