"""Two CPU processes (gloo) against one: same weights, exact metrics, agreed stops, exact
resume. Each scenario is one launch (forked workers; every launch has a timeout)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from tests.distributed import _scenarios as s
from unitrain.distributed import launch

TIMEOUT = 90  # seconds; a hang fails the test instead of blocking the suite


def run(body: Any, *args: Any) -> list[Any]:
    return launch(body, "cpu:2", *args, start_method="fork", timeout=TIMEOUT)


@pytest.fixture(scope="module")
def basics() -> list[dict[str, Any]]:
    return run(s.ddp_basics)


def test_two_processes_train_like_one_with_the_same_global_batch(
    basics: list[dict[str, Any]],
) -> None:
    one = s.make_trainer()
    one.fit(DataLoader(s.dataset(32), batch_size=16))
    # documented tolerance: float32 reductions run in another order (measured ~3e-8)
    torch.testing.assert_close(basics[0]["weights"], s.weights(one), atol=1e-6, rtol=0)
    assert torch.equal(basics[0]["weights"], basics[1]["weights"])  # ranks never diverge


def test_eval_metrics_equal_one_process_without_the_padding(
    basics: list[dict[str, Any]],
) -> None:
    one = s.make_trainer()
    evals = s.dataset(17, seed=2)
    one.fit(DataLoader(s.dataset(32), batch_size=16), eval_data=DataLoader(evals, batch_size=8))
    expected = one.state.eval_metrics["val"]
    for rank in basics:
        assert rank["metrics"]["accuracy"] == expected["accuracy"]  # exact: 17 = 9 + 8 samples
        assert rank["metrics"]["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    # what DistributedSampler's padding (sample 0 seen twice) would have reported instead
    padded = one.evaluate(DataLoader(Subset(evals, [*range(17), 0]), batch_size=8))
    assert padded["accuracy"] != expected["accuracy"]


def test_accumulation_reduces_gradients_once_per_window(basics: list[dict[str, Any]]) -> None:
    one = s.make_trainer(accumulation=2)
    one.fit(DataLoader(s.dataset(32), batch_size=8))
    torch.testing.assert_close(basics[0]["accumulated"], s.weights(one), atol=1e-6, rtol=0)
    # 2 epochs x 4 micro-steps per rank, windows of 2: 4 optimizer steps, 4 all-reduces
    # (one bucket); without no_sync there would be 8
    assert [r["steps"] for r in basics] == [4, 4]
    assert [r["allreduces"] for r in basics] == [4, 4]
    for option in ("static_graph", "find_unused_parameters"):  # DDP options, same result
        torch.testing.assert_close(basics[1][option], s.weights(one), atol=1e-6, rtol=0)


def test_rank_rules_hold_in_spawned_workers(basics: list[dict[str, Any]]) -> None:
    assert basics[0]["registered"] == ["every", "main"]  # ranks="main", ranks="all"
    assert basics[1]["registered"] == ["every", "one"]  # ranks=1 (device index), "all"
    assert basics[0]["fit_starts"] == (1, 0, 1) and basics[1]["fit_starts"] == (0, 1, 1)


@pytest.fixture(scope="module")
def stops() -> list[dict[str, Any]]:
    return run(s.stop_agreement)


def test_a_stop_asked_on_one_rank_in_mid_window_stops_all_at_the_window_end(
    stops: list[dict[str, Any]],
) -> None:
    # rank 0 asked at micro-step 3 (inside the second window of 2): both finish that window
    assert [r["mid_window"][:2] for r in stops] == [(2, 4), (2, 4)]
    assert stops[1]["mid_window"][2] == "stop requested on rank(s) [0]"


def test_with_agree_every_3_a_stop_waits_for_the_next_agreement(
    stops: list[dict[str, Any]],
) -> None:
    assert [r["agree_every_3"] for r in stops] == [3, 3]  # asked at step 1, agreed at 3


def test_an_epoch_end_stop_from_rank_one_ends_every_rank_after_that_epoch(
    stops: list[dict[str, Any]],
) -> None:
    assert [r["epoch_end"] for r in stops] == [(1, 4), (1, 4)]  # max_epochs was 3


def test_sigterm_on_one_rank_stops_every_rank_at_the_same_step(
    stops: list[dict[str, Any]],
) -> None:
    assert [r["sigterm"] for r in stops] == [(2, "SIGTERM received (rank(s) [1])")] * 2
    assert all(r["handler_restored"] for r in stops)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


def test_two_process_resume_is_exact_and_another_world_size_is_refused() -> None:
    ranks = run(s.exact_resume)
    for rank in ranks:
        assert torch.equal(rank["straight"], rank["resumed"])  # bit-exact, with dropout
        assert rank["rng_saved"] == 2  # every rank's random state is in the checkpoint
        assert "written by a run of 1 process(es), and this run has 2" in rank["refused"]


def test_resume_latest_takes_rank_zeros_checkpoint_on_every_rank(tmp_path: Path) -> None:
    ranks = run(s.resume_latest, str(tmp_path / "checkpoints"))  # without it: a hang
    assert ranks[0]["resumed_at"] == ranks[1]["resumed_at"] > 3
    assert torch.equal(ranks[0]["weights"], ranks[1]["weights"])


def test_checkpoint_plugin_resumes_every_rank_with_its_own_streams(tmp_path: Path) -> None:
    ranks = run(s.per_rank_resume, str(tmp_path))
    assert ranks[0]["orders"] == 2 and ranks[0]["streams_differ"]
    for rank in ranks:
        assert torch.equal(rank["straight"], rank["middle"])  # mid-epoch checkpoint, dropout
        assert torch.equal(rank["straight"], rank["latest"])  # after a fit cut by max_steps
    # rank 1 has no "run_store" / "Tally" (ranks="main"): their saved state is no surprise
    assert ranks[1]["warnings"] == []


def test_sigterm_on_one_rank_commits_one_checkpoint_and_every_rank_exits_143(
    tmp_path: Path,
) -> None:
    ranks = run(s.sigterm_checkpoint, str(tmp_path))
    assert [r["status"] for r in ranks] == [143, 143]
    assert ranks[0]["step"] == ranks[1]["step"] == 2
    assert ranks[0]["saved"] == ["step-000000002"]
    assert all(r["handler_restored"] for r in ranks)
