"""The seed's command line on the run store: train / test / eval and their policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.compat.pytorch_task._git import git, make_repo
from tests.compat.pytorch_task._tiny import PointsTask
from unitrain.compat.pytorch_task import main
from unitrain.compat.pytorch_task.cli import latest_snapshot
from unitrain.runs import RunDir


class CliTask(PointsTask):
    def load_sample(self, path: str) -> Any:
        return torch.load(path, weights_only=True)

    def store_result(self, result: Any, path: str) -> None:
        torch.save(result, path)


def _run(repo: Path, runs: Path, *argv: str) -> tuple[int, CliTask]:
    task = CliTask(epochs=1)
    code = main(task, list(argv), experiment="exp", root=runs, code_dir=repo)
    return code, task


def test_train_test_eval_cycle(tmp_path: Path, capsys: Any) -> None:
    repo, runs = make_repo(tmp_path / "code"), tmp_path / "runs"
    assert _run(repo, runs, "train")[0] == 0
    first = latest_snapshot(runs, "exp")
    assert first is not None and first.model_files == ["final.pt"]
    assert RunDir.open(first.root_path).info()["status"] == "COMPLETED"

    assert _run(repo, runs, "train")[0] == 0  # unchanged code: nothing trained
    assert "unchanged" in capsys.readouterr().out
    assert len(list((runs / "exp").iterdir())) == 1

    assert _run(repo, runs, "train", "--force")[0] == 0
    assert len(list((runs / "exp").iterdir())) == 2

    assert _run(repo, runs, "test")[0] == 0
    tested = latest_snapshot(runs, "exp")
    assert tested is not None and "loss" in tested.test_data
    assert _run(repo, runs, "test")[0] == 0
    assert "already tested" in capsys.readouterr().out
    assert _run(repo, runs, "test", "--retest")[0] == 0

    sample = torch.randn(3, 3)
    torch.save(sample, tmp_path / "in.pt")
    assert _run(repo, runs, "eval", str(tmp_path / "in.pt"), str(tmp_path / "out.pt"))[0] == 0
    assert torch.load(tmp_path / "out.pt", weights_only=True).shape == (3, 2)


def test_changed_code_trains_anew_and_blocks_testing_old_snapshots(
    tmp_path: Path, capsys: Any
) -> None:
    repo, runs = make_repo(tmp_path / "code"), tmp_path / "runs"
    _run(repo, runs, "train")
    (repo / "task.py").write_text("# version 2\n")  # dirty tree = changed code
    assert _run(repo, runs, "test")[0] == 2
    assert "--ignore" in capsys.readouterr().out
    assert _run(repo, runs, "test", "--ignore")[0] == 0
    head = git(repo, "rev-parse", "HEAD")
    assert _run(repo, runs, "train")[0] == 0
    assert len(list((runs / "exp").iterdir())) == 2
    assert git(repo, "rev-parse", "HEAD") == head  # never commits the user's code


def test_retrain_resets_the_last_snapshot(tmp_path: Path) -> None:
    repo, runs = make_repo(tmp_path / "code"), tmp_path / "runs"
    assert _run(repo, runs, "train", "--retrain")[0] == 2  # nothing to retrain yet
    _run(repo, runs, "train")
    before = latest_snapshot(runs, "exp")
    assert before is not None
    with before.custom_storage() as transaction:
        transaction.store("stale", True)
    assert _run(repo, runs, "train", "--retrain")[0] == 0
    after = latest_snapshot(runs, "exp")
    assert after is not None and after.uid == before.uid
    assert after.custom_data == {} and after.train_data["epoch_i"] == [0]


def test_a_failed_training_marks_the_run_failed(tmp_path: Path) -> None:
    class Broken(CliTask):
        def get_training_data(self) -> Any:
            raise ValueError("no data today")

    repo, runs = make_repo(tmp_path / "code"), tmp_path / "runs"
    with pytest.raises(ValueError, match="no data today"):
        main(Broken(), ["train"], experiment="exp", root=runs, code_dir=repo)
    snapshot = latest_snapshot(runs, "exp")
    assert snapshot is not None
    info = RunDir.open(snapshot.root_path).info()
    assert info["status"] == "FAILED" and "no data today" in info["error"]


def test_test_and_eval_need_a_snapshot(tmp_path: Path) -> None:
    assert _run(tmp_path, tmp_path / "runs", "test")[0] == 2
