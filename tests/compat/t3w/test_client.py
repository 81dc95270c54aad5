"""t3w client code (``client.py``, the shape of t3w's mnist example) run as a user runs it:
one process per command, output not a terminal, results read from what it wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

CLIENT = Path(__file__).with_name("client.py")


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(CLIENT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _result(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(folder / "result.pt", weights_only=True)
    return loaded


def _events(folder: Path, kind: str) -> list[list[str]]:
    return [path.read_text().splitlines() for path in sorted(folder.glob(f"events-{kind}-*.txt"))]


def test_the_client_trains_keeps_the_best_two_and_its_checkpoint_evaluates_the_same(
    tmp_path: Path,
) -> None:
    train, check = tmp_path / "train", tmp_path / "check"
    train.mkdir(), check.mkdir()
    done = _run("train", str(train), "--epochs", "4", "--warmup", "3")
    # t3w's progress side effect: eval summaries on stdout, the bars on stderr (not a tty)
    summaries = [eval(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [s["epoch"] for s in summaries] == [1, 2, 3, 4]
    for epoch in range(4):
        assert re.search(rf"^Train {epoch}: 12/12 nll=1\.0\*\d\.\d+ lr=", done.stderr, re.M)
    assert "Epochs: 4/4" in done.stderr and "Eval 4: 11/11" in done.stderr
    # SaveBestModels: exactly the two best evaluations, named as t3w named them
    best = sorted(summaries, key=lambda s: s["accuracy"], reverse=True)[:2]
    kept = sorted(path.name for path in train.glob("digits-ep*.pt.gz"))
    assert kept == sorted(
        f"digits-ep{s['epoch']}-step{12 * s['epoch']}-accuracy={s['accuracy']:.5f}.pt.gz"
        for s in best
    )
    assert summaries[-1]["accuracy"] > 0.6  # it learns
    # on_train_finished fired once (t3w never fired it); every step reached the side effects
    (events,) = _events(train, "main")
    assert events.count("step") == 48 and events[-1] == "train_finished"
    # a kept checkpoint, evaluated by a new process, gives the value it was saved with
    top = best[0]
    (saved,) = train.glob(f"digits-ep{top['epoch']}-*.pt.gz")
    done = _run("eval", str(check), str(saved))
    assert _result(check)["values"] == {"accuracy": top["accuracy"]}
    assert done.stdout.strip() == repr({"epoch": top["epoch"], "accuracy": top["accuracy"]})


def test_saved_after_two_epochs_and_continued_in_a_new_process_equals_four_straight(
    tmp_path: Path,
) -> None:
    straight, first, second = (tmp_path / name for name in ("straight", "first", "second"))
    for folder in (straight, first, second):
        folder.mkdir()
    _run("train", str(straight), "--epochs", "4")
    _run("train", str(first), "--epochs", "4", "--save-after", "2")
    _run("resume", str(second), str(first / "half.pt.gz"), "--epochs", "4")
    a, b = _result(straight), _result(second)
    assert _result(first)["progress"] == (2, 24)
    assert a["progress"] == b["progress"] == (4, 48)
    for name, weight in a["weights"].items():
        assert torch.equal(weight, b["weights"][name]), name
    for key, state in a["optim"]["state"].items():  # Adam's moments too
        for field, value in state.items():
            other = b["optim"]["state"][key][field]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other))
    assert a["lr"] == b["lr"]  # StepLR continued
    assert a["values"] == b["values"]


def test_two_processes_run_the_side_effects_and_match_one_process_exactly(
    tmp_path: Path,
) -> None:
    train, one, two = (tmp_path / name for name in ("train", "one", "two"))
    for folder in (train, one, two):
        folder.mkdir()
    done = _run("train", str(train), "--epochs", "2", "--device", "cpu:2", timeout=500)
    assert "overridden" not in done.stderr  # the scheduler's step marker survived the spawn
    assert "Train 1: 6/6" in done.stderr  # each rank: 48 samples / 8 a batch
    # rank-0-only side effects fired once, every-rank ones in each of the two processes:
    # 96 samples / 2 ranks / 8 a batch = 6 steps per epoch per rank
    (main,) = _events(train, "main")
    every = _events(train, "all")
    assert len(every) == 2
    for events in [main, *every]:
        assert events[0] == "train_started" and events[-1] == "train_finished"
        assert events.count("step") == 12
        assert [e for e in events if e.startswith("epoch_finished")] == [
            "epoch_finished 0",
            "epoch_finished 1",
        ]
    summaries = [eval(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [s["epoch"] for s in summaries] == [1, 2]
    # 101 validation samples in batches of 7: nothing divides; 1 and 2 processes agree exactly
    (checkpoint,) = [p for p in train.glob("digits-ep2-*.pt.gz")]
    _run("eval", str(one), str(checkpoint))
    _run("eval", str(two), str(checkpoint), "--device", "cpu:2", timeout=500)
    value = _result(one)["values"]["accuracy"]
    assert _result(two)["values"]["accuracy"] == value
    assert value == summaries[-1]["accuracy"]
    assert round(value * 101) == pytest.approx(value * 101, abs=1e-9)
    assert [[e.split()[0] for e in events] for events in _events(two, "all")] == [["eval"]] * 2
