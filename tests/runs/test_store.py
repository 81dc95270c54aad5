"""The run directory API: atomic creation, run.json updates, metrics.jsonl records."""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from unitrain.errors import ConfigError
from unitrain.plugins.run_store import RunStore
from unitrain.runs.listing import find_runs
from unitrain.runs.store import RunDir, RunStatus, create_run, write_json_atomic


def test_create_run_makes_the_layout_and_run_json(tmp_path: Path) -> None:
    run = create_run(tmp_path, "exp", config={"lr": 0.1})
    assert run.path.parent == tmp_path / "exp"
    assert run.checkpoints.is_dir() and run.artifacts.is_dir()
    info = run.info()
    assert info["status"] == "RUNNING" and info["restarts"] == 0
    assert info["config"] == {"lr": 0.1}
    assert {"python", "torch", "unitrain"} <= set(info["versions"])
    assert info["host"] and info["pid"] == os.getpid()
    assert "git" in info  # a {commit, dirty} dict inside a work tree, else None


def _make_runs(root: str, count: int) -> list[str]:
    return [create_run(root, "same").name for _ in range(count)]


def test_concurrent_launches_never_share_a_directory(tmp_path: Path) -> None:
    # scenario 21: several processes create runs in the same second in the same root
    with multiprocessing.get_context("fork").Pool(2) as pool:
        names = [n for chunk in pool.starmap(_make_runs, [(str(tmp_path), 15)] * 2) for n in chunk]
    names += _make_runs(str(tmp_path), 15)
    assert len(names) == 45 == len(set(names))
    assert len(list((tmp_path / "same").iterdir())) == 45


def _create_and_hang(root: str, ready: str) -> None:
    # stops for good half-way through making the run: after its folders, before run.json
    from unitrain.runs import store

    def hang(path: Path, info: object) -> None:
        Path(ready).touch()
        time.sleep(600)

    store.write_json_atomic = hang  # type: ignore[assignment]
    create_run(root, "exp")


def test_a_process_killed_while_making_a_run_leaves_no_half_made_run(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = multiprocessing.get_context("fork").Process(
        target=_create_and_hang, args=(str(tmp_path / "runs"), str(ready))
    )
    child.start()
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and child.is_alive()
        time.sleep(0.01)
    os.kill(child.pid or 0, signal.SIGKILL)
    child.join(timeout=60)
    experiment = tmp_path / "runs" / "exp"
    (left,) = list(experiment.iterdir())  # the hidden folder it was making: nothing else
    assert left.name.startswith(".creating-") and (left / "checkpoints").is_dir()
    assert find_runs(tmp_path / "runs") == []  # `unitrain runs` lists nothing
    assert RunStore(tmp_path / "runs", experiment="exp").resume_dirs() == []  # nothing to resume
    run = create_run(tmp_path / "runs", "exp")  # the next launch is unaffected
    assert [path for path, _ in find_runs(tmp_path / "runs")] == [run.path]


def test_a_name_taken_while_the_run_was_made_draws_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another process claims the same name between the check and the rename: the rename
    # fails (a run is never an empty folder), the half-made copy is removed, a new id drawn
    first = create_run(tmp_path, "exp")
    stamp, taken = first.name.rsplit("-", 1)
    ids = iter([taken, "abcdef"])
    real = secrets.token_hex  # also names temporary files, with 4 bytes; a run id has 3
    monkeypatch.setattr(
        "unitrain.runs.store.secrets.token_hex", lambda n: next(ids) if n == 3 else real(n)
    )
    monkeypatch.setattr("unitrain.runs.store.time.strftime", lambda *args: stamp)
    exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == first.path else exists(self))
    second = create_run(tmp_path, "exp")
    assert second.name.endswith("-abcdef") and second.info()["id"] == second.name
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == sorted([first.name, second.name])
    assert first.info()["id"] == first.name  # untouched


def test_status_update_and_heartbeat(tmp_path: Path) -> None:
    run = create_run(tmp_path)
    assert run.heartbeat(interval=0.0, global_step=3)
    assert run.info()["global_step"] == 3
    assert not run.heartbeat(interval=3600.0)  # too soon: nothing written
    run.set_status(RunStatus.FAILED, ValueError("bad value"))
    info = run.info()
    assert info["status"] == "FAILED" and info["error"] == "ValueError: bad value"
    assert info["ended"] >= info["started"]
    run.set_status("RUNNING")
    assert run.info()["ended"] is None
    with pytest.raises(ValueError):
        run.set_status("DONE")


def test_run_json_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = create_run(tmp_path)
    before = run.run_json.read_text()

    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError):
        run.update(status="COMPLETED")
    assert run.run_json.read_text() == before  # never half a file
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []


def test_metrics_records_and_a_torn_last_line(tmp_path: Path) -> None:
    run = create_run(tmp_path)
    run.append_metrics({"step": 1, "epoch": 0, "split": "train", "loss": 0.5})
    run.append_metrics({"step": 2, "epoch": 0, "split": "val", "loss": 0.25})
    with run.metrics_jsonl.open("a") as stream:
        stream.write('{"step": 3, "lo')  # the process died mid-write
    assert [r["step"] for r in run.read_metrics()] == [1, 2]


def test_open_requires_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"run\.json"):
        RunDir.open(tmp_path)
    run = create_run(tmp_path)
    assert RunDir.open(run.path).info()["id"] == run.name


@pytest.mark.parametrize("experiment", ["", "a/b", ".."])
def test_experiment_must_be_a_plain_name(tmp_path: Path, experiment: str) -> None:
    with pytest.raises(ConfigError, match="not a plain folder name"):
        create_run(tmp_path, experiment)
    assert list(tmp_path.iterdir()) == []


def test_write_json_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
