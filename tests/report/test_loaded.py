"""Which runs a report draws, in which order, with which colour and label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unitrain.errors import ConfigError
from unitrain.report.colours import run_colour
from unitrain.report.loaded import find_sources, is_live, load_runs


def run_folder(path: Path, created: float | None, **info: object) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text('{"split": "val", "step": 1, "loss": 0.5}\n')
    if created is not None:
        (path / "run.json").write_text(json.dumps({"id": path.name, "created": created, **info}))
    return path


def test_an_experiment_folder_stands_for_its_runs_oldest_first(tmp_path):
    newer = run_folder(tmp_path / "exp" / "b-run", 200.0, status="COMPLETED")
    older = run_folder(tmp_path / "exp" / "a-run", 100.0, status="COMPLETED")
    (tmp_path / "exp" / "report").mkdir()  # a report folder is not a run
    sources = find_sources([tmp_path / "exp"])
    assert [s.folder for s in sources] == [older, newer]
    # a root of experiments too, and a run named twice counts once
    assert find_sources([tmp_path, newer]) == sources


def test_colours_and_labels(tmp_path):
    one = run_folder(tmp_path / "x" / "same", 1.0, status="COMPLETED", experiment="x")
    two = run_folder(tmp_path / "y" / "same", 2.0, status="COMPLETED", experiment="y")
    runs = load_runs(find_sources([one, two]))
    assert [r.colour for r in runs] == [run_colour(0), run_colour(1)]
    assert [r.label for r in runs] == ["x/same", "y/same"]  # same id: experiment added
    assert [r.anchor for r in runs] == ["run-0", "run-1"]


def test_a_metrics_file_is_one_run_and_several_in_one_folder_are_refused(tmp_path):
    run = run_folder(tmp_path / "r", 1.0, status="COMPLETED")
    (run / "metrics.2.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"holds the metrics of 2 runs"):
        find_sources([run])
    (source,) = find_sources([run / "metrics.2.jsonl"])
    assert source.metrics_file == run / "metrics.2.jsonl"
    assert load_runs([source])[0].label == "r:metrics.2"


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        find_sources([tmp_path / "nope"])
    with pytest.raises(ConfigError, match=r"is not a run folder .* and holds no runs"):
        find_sources([tmp_path])
    with pytest.raises(ConfigError, match="name at least one run"):
        find_sources([])


def test_liveness(tmp_path, monkeypatch):
    done = run_folder(tmp_path / "done", 1.0, status="COMPLETED")
    beat = run_folder(tmp_path / "live", 1.0, status="RUNNING", heartbeat=1e12)
    stale = run_folder(tmp_path / "stale", 1.0, status="RUNNING", heartbeat=1.0)
    bare = run_folder(tmp_path / "bare", None)
    live = {p.name: is_live(s) for p in (done, beat, stale, bare) for s in find_sources([p])}
    # a stale heartbeat is a crashed run; a folder without run.json cannot tell: live
    assert live == {"done": False, "live": True, "stale": False, "bare": True}


def test_run_colours_stay_distinct():
    colours = [run_colour(i) for i in range(200)]
    assert len(set(colours)) == 200 and all(len(c) == 7 and c[0] == "#" for c in colours)
    with pytest.raises(ValueError, match="index must be >= 0"):
        run_colour(-1)


def test_a_run_with_a_lock_is_live_while_the_lock_is_held(tmp_path):
    from unitrain.runs.lock import RunLock

    run = run_folder(tmp_path / "locked", 1.0, status="RUNNING", heartbeat=1.0)
    lock = RunLock(run)
    lock.acquire()
    try:
        (source,) = find_sources([run])
        assert is_live(source)  # an old heartbeat does not matter while the lock is held
    finally:
        lock.release()
    assert not is_live(source)  # status RUNNING, nobody holds the lock: crashed, not live
    assert load_runs([source])[0].status == "CRASHED"
