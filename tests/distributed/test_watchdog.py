"""The hang watchdog: a rank that stops making progress stops every rank, and the error
names it and where it was."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.distributed import _scenarios as s
from unitrain.distributed import launch
from unitrain.distributed.watchdog import Report, check_hang_timeout, choose_stuck
from unitrain.errors import ConfigError, WorkerError


def test_a_sleeping_rank_is_reported_within_twenty_seconds(tmp_path: Path) -> None:
    note = tmp_path / "slept-at"
    with pytest.raises(WorkerError) as caught:
        launch(s.sleeps_on_rank_one, "cpu:2", str(note), start_method="fork", timeout=120)
    reported = time.time()
    asleep = float(note.read_text())
    assert reported - asleep < 20, reported - asleep
    error = caught.value
    message = str(error)
    assert error.rank == 1, message
    assert "rank 1 of the 2 workers on devices='cpu:2' hung" in message
    assert "rank 1 of 2 made no progress for 10 s (hang_timeout=10)" in message
    assert "at step 2 (micro-step 2, epoch 0, fit)" in message
    assert "hook on_train_step_start of plugin SleepAt" in message
    assert "rank 0 waiting in a collective in run_backward" in message


def report(rank: int, micro: int, hook: str, waiting: bool) -> Report:
    return Report(rank, True, ("fit", None, 0, micro, micro, micro), hook, "", waiting)


def test_the_stuck_rank_is_the_one_not_waiting_then_the_one_behind() -> None:
    sleeping = report(1, 2, "on_train_step_start", waiting=False)
    waiting = report(0, 2, "run_backward", waiting=True)
    assert choose_stuck([waiting, sleeping]).rank == 1
    # both waiting (a collective only one of them called): the one behind in the step
    assert (
        choose_stuck(
            [report(0, 2, "run_backward", True), report(1, 2, "on_train_step_end", True)]
        ).rank
        == 0
    )
    assert (
        choose_stuck([report(0, 3, "run_forward", False), report(1, 2, "run_forward", False)]).rank
        == 1
    )


def test_hang_timeout_is_validated() -> None:
    assert check_hang_timeout(None) is None
    assert check_hang_timeout(10) == 10.0
    for bad in (0, -1, "10", True):
        with pytest.raises(ConfigError, match=r"hang_timeout=.*seconds > 0.*None"):
            check_hang_timeout(bad)
    with pytest.raises(ConfigError, match=r"hang_timeout=0"):
        s.make_trainer(hang_timeout=0)
