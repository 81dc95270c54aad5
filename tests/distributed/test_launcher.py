"""The launcher: results by rank, and a failing rank stops everyone with its traceback."""

from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist

from tests.distributed import _scenarios as s
from unitrain.distributed import launch
from unitrain.errors import ConfigError, WorkerError


def rank_and_sum(offset: int) -> tuple[int, int, str]:
    value = torch.tensor([dist.get_rank() + offset])
    dist.all_reduce(value)
    return dist.get_rank(), int(value), dist.get_backend()


def test_results_come_back_by_rank() -> None:
    assert launch(rank_and_sum, "cpu:2", 10, start_method="fork", timeout=60) == [
        (0, 21, "gloo"),
        (1, 21, "gloo"),
    ]


def parallel_kernel() -> int:
    torch.randn(2_000_000).exp_()  # large enough for ATen to split it over its threads
    return torch.get_num_threads()


def test_forked_workers_run_after_the_parent_ran_parallel_kernels() -> None:
    # GNU OpenMP is not fork-safe: a child forked after the parent used its thread pool
    # hangs in its first parallel kernel unless it runs one thread (the launcher's default)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel_kernel()
        assert launch(parallel_kernel, "cpu:2", start_method="fork", timeout=60) == [1, 1]
    finally:
        torch.set_num_threads(threads)


def test_one_device_runs_here_without_a_process_group() -> None:
    assert launch(lambda x: (x, dist.is_initialized()), "cpu", 3) == [(3, False)]


def test_a_failure_on_rank_one_stops_every_rank_and_reports_its_traceback() -> None:
    started = time.monotonic()
    with pytest.raises(WorkerError) as caught:
        launch(s.fails_on_rank_one, "cpu:2", start_method="fork", timeout=90)
    assert time.monotonic() - started < 60  # rank 0 would train 50 epochs otherwise
    error = caught.value
    assert error.rank == 1
    assert str(error).startswith("rank 1 of the 2 workers")
    assert "ValueError: deliberate failure on rank 1" in error.worker_traceback
    assert "in on_train_step_start" in error.worker_traceback  # the real traceback
    assert "plugin 'fail_at' in hook 'on_train_step_start'" in error.worker_traceback


def test_unpicklable_work_is_refused_before_any_process_starts() -> None:
    with pytest.raises(ConfigError, match=r"pickling.*module level"):
        launch(lambda: None, "cpu:2")


def test_a_rank_killed_by_a_signal_is_blamed_and_the_survivors_are_consequences() -> None:
    with pytest.raises(WorkerError) as caught:
        launch(s.killed_on_rank_one, "cpu:2", start_method="fork", timeout=90)
    error = caught.value
    assert error.rank == 1, str(error)
    assert "rank 1 of the 2 workers on devices='cpu:2' was killed by SIGKILL (exit code -9)" in (
        str(error)
    )
    assert "rank(s) [0] failed after it, as a consequence" in str(error)


def test_the_cause_is_found_from_stamps_and_exit_codes() -> None:
    from unitrain.distributed.failures import find_cause

    peer = {"rank": 0, "time_ns": 1, "type": "RuntimeError", "message": "Connection closed by peer"}
    real = {"rank": 1, "time_ns": 2, "type": "ValueError", "message": "bad value"}
    assert find_cause([peer, real], {0: 1, 1: 1}, []).rank == 1  # the later, real error
    killed = find_cause([peer], {0: 1, 1: -9}, [])
    assert (killed.rank, killed.how, killed.consequences) == (
        1,
        "was killed by SIGKILL (exit code -9)",
        (0,),
    )
    # a rank that died of the launcher's own SIGTERM was stopped, not the cause ...
    assert find_cause([peer], {0: 1, 1: -15}, []).rank == 0
    # ... unless it was seen dead before the launcher stopped anyone
    assert find_cause([peer], {0: 1, 1: -15}, [1]).rank == 1
    assert find_cause([], {0: 0, 1: 0}, []) is None
