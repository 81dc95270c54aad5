"""Battery with real processes: two processes on one run, a stale lock, a crash before the
first checkpoint, as ``unitrain runs`` sees them, and random SIGTERMs across a run.

Children are forked (torch is already imported, so they start in milliseconds), train the
seeded setup with a short sleep per step, and report an exception's text in a file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console

from tests.runs import battery
from tests.runs.trainkit import assert_same, make_data, make_trainer, snapshot
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import load_checkpoint, newest_valid
from unitrain.runs.listing import live_status, print_runs_table

EPOCHS = 8
STEPS = EPOCHS * 6


class Pace:
    """Sleeps after each step so that the other process acts while this one trains."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_step_end(self) -> None:
        time.sleep(self.seconds)


def _child(root: str, report: str, own_folder: bool, pace: float, checkpoints: bool) -> None:
    torch.set_num_threads(1)  # GNU OpenMP is not fork-safe: no pool in the child
    warnings.simplefilter("ignore")
    try:
        if own_folder:
            plugins: list[object] = [Checkpoint(Path(root) / "ckpts", every_n_steps=2)]
        else:
            plugins = [RunStore(root, log_every_n_steps=1)]
            if checkpoints:
                plugins.append(Checkpoint(every_n_steps=2, keep_last=2))
        trainer = make_trainer([*plugins, Pace(pace)], max_epochs=EPOCHS)
        trainer.fit(make_data(), eval_data=make_data(), resume="latest")
    except BaseException as error:
        Path(report).write_text(f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        os._exit(3)
    os._exit(0)


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    # the first optimizer step imports much of torch (dynamo, sympy): seconds on a busy
    # machine; done once here, every forked child starts warm
    make_trainer(max_epochs=1).fit(make_data())


def _start(
    root: Path, name: str, *, own: bool = False, pace: float = 0.03, ckpt: bool = True
) -> Any:
    report = root / f"{name}.err"
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(str(root), str(report), own, pace, ckpt)
    )
    process.start()
    process.report = report
    return process


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _run_dir(root: Path) -> Path | None:
    runs = list((root / "default").glob("*/run.json")) if (root / "default").is_dir() else []
    return runs[0].parent if runs else None


def _train_steps(run: Path) -> list[int]:
    if not (run / "metrics.jsonl").exists():  # run.json is written first
        return []
    text = (run / "metrics.jsonl").read_text()
    lines = text[: text.rfind("\n") + 1].splitlines()  # a line being written is not complete
    return [r["step"] for r in map(json.loads, lines) if r["split"] == "train"]


def test_a_second_process_on_a_running_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = _start(tmp_path, "first", pace=0.1)
    _wait_for(
        lambda: (
            (run := _run_dir(tmp_path)) is not None and (run / "checkpoints" / "latest").exists()
        )
    )
    run = _run_dir(tmp_path)
    assert run is not None
    second = _start(tmp_path, "second")  # resume="latest" finds the first one's run
    second.join(timeout=120)
    assert first.is_alive()  # they overlapped
    assert second.exitcode == 3
    refusal = second.report.read_text()
    assert refusal.startswith("RunLockedError: run folder ")
    assert f"pid {first.pid} on host {socket.gethostname()}" in refusal
    first.join(timeout=120)
    assert first.exitcode == 0, first.report.read_text() if first.report.exists() else ""
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "COMPLETED" and info["restarts"] == 0  # the second wrote nothing
    assert _train_steps(run) == list(range(1, STEPS + 1))  # every step exactly once
    assert len(list((tmp_path / "default").iterdir())) == 1


def test_two_processes_on_one_checkpoint_folder_are_refused(tmp_path: Path) -> None:
    first = _start(tmp_path, "first", own=True, pace=0.1)
    _wait_for(lambda: (tmp_path / "ckpts" / "latest").exists())
    second = _start(tmp_path, "second", own=True)
    second.join(timeout=120)
    assert first.is_alive()
    assert second.exitcode == 3
    refusal = second.report.read_text()
    assert f"checkpoint folder {tmp_path / 'ckpts'} is in use by pid {first.pid}" in refusal
    first.join(timeout=120)
    assert first.exitcode == 0


def test_a_stale_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    first = _start(tmp_path, "first")
    _wait_for(lambda: (run := _run_dir(tmp_path)) is not None and len(_train_steps(run)) >= 5)
    os.kill(first.pid, signal.SIGKILL)
    first.join(timeout=60)
    run = _run_dir(tmp_path)
    assert run is not None
    assert json.loads((run / ".lock").read_text())["pid"] == first.pid  # never released
    assert live_status(run, json.loads((run / "run.json").read_text())) == "CRASHED"
    second = _start(tmp_path, "second", pace=0.0)
    second.join(timeout=120)
    assert second.exitcode == 0, second.report.read_text() if second.report.exists() else ""
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "COMPLETED" and info["restarts"] == 1
    assert info["crashed_attempts"] == 1 and info["pid"] == second.pid
    assert _train_steps(run) == list(range(1, STEPS + 1))
    assert (run / ".lock").read_text() == ""  # released cleanly this time


def test_a_run_killed_before_its_first_checkpoint_shows_as_crashed(tmp_path: Path) -> None:
    first = _start(tmp_path, "first", ckpt=False, pace=0.05)
    _wait_for(lambda: (run := _run_dir(tmp_path)) is not None and len(_train_steps(run)) >= 2)
    run = _run_dir(tmp_path)
    assert run is not None
    info = json.loads((run / "run.json").read_text())
    assert live_status(run, info) == "RUNNING"  # alive: its lock is held
    os.kill(first.pid, signal.SIGKILL)
    first.join(timeout=60)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "RUNNING"  # what the file says, forever
    assert live_status(run, info) == "CRASHED"  # what `unitrain runs` says
    console = Console(record=True, width=200, color_system=None)
    assert print_runs_table(tmp_path, console) == 1
    assert "CRASHED" in console.export_text()


def _sigterm_child(root: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    trainer = make_trainer([*battery.plugins(Path(root)), Pace(0.1)], max_epochs=battery.EPOCHS)
    trainer.fit(make_data(), eval_data=make_data(), resume="latest")  # Preempted: exit 143


def _records(root: Path) -> int:
    run = _run_dir(root)
    return 0 if run is None else len(_train_steps(run))


def _stepped_or_ended(root: Path, done: int, child: Any) -> bool:
    return _records(root) > done or not child.is_alive()


def test_random_sigterms_across_a_run_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(17)
    codes: list[int | None] = []
    for _ in range(6):
        done = _records(tmp_path)
        child = multiprocessing.get_context("fork").Process(
            target=_sigterm_child, args=(str(tmp_path),)
        )
        child.start()
        # Once this process has logged a step its handler is installed, however slowly a
        # loaded machine started it; the signal then lands at a random point of the next
        # step or so (18 steps of 0.1 s in all: six trials of about two cannot finish it).
        # A SIGTERM before the handler is installed kills the process as the OS does
        # (test_a_run_killed_before_its_first_checkpoint_shows_as_crashed covers that).
        _wait_for(partial(_stepped_or_ended, tmp_path, done, child))
        time.sleep(rng.uniform(0.0, 0.1))
        assert child.pid is not None and child.exitcode is None, child.exitcode
        os.kill(child.pid, signal.SIGTERM)
        child.join(timeout=60)
        codes.append(child.exitcode)
    # 143: stopped at a step boundary after committing; never anything else
    assert codes == [143] * 6, codes
    final = multiprocessing.get_context("fork").Process(
        target=_sigterm_child, args=(str(tmp_path),)
    )
    final.start()
    final.join(timeout=120)
    assert final.exitcode == 0
    run = battery.only_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "COMPLETED"
    assert codes.count(143) <= info["restarts"] <= len(codes)  # each trial that started
    assert battery.metrics_of(run) == battery.straight()[1]  # every record exactly once
    newest, skipped = newest_valid(run / "checkpoints")
    assert newest is not None and skipped == []
    restored = make_trainer(max_epochs=battery.EPOCHS, init_seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored.load_state_dict(load_checkpoint(newest)["state"])
    assert_same(battery.straight()[0], snapshot(restored))
