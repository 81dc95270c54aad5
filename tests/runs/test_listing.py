"""`unitrain runs`: the rich table of runs."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from unitrain.runs.listing import find_runs, print_runs_table
from unitrain.runs.store import create_run


def test_table_lists_status_best_metric_and_duration(tmp_path: Path) -> None:
    done = create_run(tmp_path, "a")
    done.update(best={"name": "val/loss", "mode": "min", "value": 0.123456}, global_step=42)
    done.update(started=1000.0)
    done.set_status("COMPLETED")
    done.update(ended=1000.0 + 3725)
    failed = create_run(tmp_path, "b")
    failed.set_status("FAILED", RuntimeError("boom"))
    (tmp_path / "c" / "broken").mkdir(parents=True)
    (tmp_path / "c" / "broken" / "run.json").write_text("{not json")
    killed = create_run(tmp_path, "d")
    killed.update(heartbeat=killed.info()["heartbeat"] - 3600)  # SIGKILLed an hour ago
    console = Console(record=True, width=200, color_system=None)
    assert print_runs_table(tmp_path, console) == 4
    text = console.export_text()
    assert "COMPLETED" in text and "FAILED" in text and "UNREADABLE" in text
    assert "CRASHED (no heartbeat for 1:00:00)" in text
    assert "val/loss=0.1235 (min)" in text and "1:02:05" in text and "42" in text
    assert [p.name for p, _ in find_runs(tmp_path / "a")] == [done.name]
    assert [p.name for p, _ in find_runs(done.path)] == [done.name]


def test_no_runs(tmp_path: Path) -> None:
    console = Console(record=True, width=100)
    assert print_runs_table(tmp_path / "missing", console) == 0
    assert "no runs" in console.export_text()
