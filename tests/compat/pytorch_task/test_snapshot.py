"""Snapshot: a view onto the run store, bound to a commit, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat.pytorch_task._git import git, make_repo
from unitrain.compat.pytorch_task import DummySnapshot, Snapshot
from unitrain.runs import RunDir
from unitrain.runs import store as run_store


def test_create_records_commit_and_dirty_flag_without_committing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "code")
    head = git(repo, "rev-parse", "HEAD")
    (repo / "task.py").write_text("# edited, not committed\n")
    snapshot = Snapshot.create(tmp_path / "runs", "exp", comment="first", code_dir=repo)
    assert (snapshot.commit_sha, snapshot.dirty, snapshot.comment) == (head, True, "first")
    assert git(repo, "rev-parse", "HEAD") == head  # nothing committed
    assert git(repo, "status", "--porcelain") == "M task.py"
    info = RunDir.open(snapshot.root_path).info()
    assert info["git"] == {"commit": head, "dirty": True} and info["snapshot"]["uid"]


def test_views_write_run_json_and_metrics_and_reload(tmp_path: Path) -> None:
    snapshot = Snapshot.create(tmp_path / "runs", "exp", code_dir=tmp_path)
    assert snapshot.commit_sha is None  # not a git tree: recorded as unknown
    with snapshot.train_storage() as transaction:
        transaction.append("loss", 0.5)
        transaction.append("epoch_i", 0)
    with snapshot.custom_storage() as transaction:
        transaction.store("note", "hello")
    reopened = Snapshot(snapshot.root_path)
    assert reopened.train_data == {"loss": [0.5], "epoch_i": [0]}
    assert reopened.custom_data == {"note": "hello"}
    records = snapshot.run.read_metrics()
    assert records == [{"step": None, "epoch": 0, "split": "train", "loss": 0.5}]
    with pytest.raises(RuntimeError, match="context manager"):
        snapshot.val_storage().append("x", 1)


def test_another_instances_writes_are_kept(tmp_path: Path) -> None:
    first = Snapshot.create(tmp_path / "runs", "exp", code_dir=tmp_path)
    second = Snapshot(first.root_path)
    with first.val_storage() as transaction:
        transaction.append("acc", 0.7)
    with second.custom_storage() as transaction:  # reloads before writing
        transaction.store("k", 1)
    assert Snapshot(first.root_path).val_data == {"acc": [0.7]}


def test_a_crash_mid_write_leaves_the_old_json_readable(tmp_path: Path, monkeypatch: Any) -> None:
    snapshot = Snapshot.create(tmp_path / "runs", "exp", code_dir=tmp_path)
    with snapshot.train_storage() as transaction:
        transaction.append("loss", 1.0)
    path = Path(snapshot.root_path) / "run.json"
    before = path.read_text()

    def torn(data: Any, stream: Any, **options: Any) -> None:
        stream.write('{"snapshot": {"train_data": ')  # half a file, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(run_store.json, "dump", torn)
    with pytest.raises(KeyboardInterrupt), snapshot.train_storage() as transaction:
        transaction.append("loss", 2.0)
    monkeypatch.undo()
    assert path.read_text() == before
    assert json.loads(before)["snapshot"]["train_data"] == {"loss": [1.0]}
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".run.json")] == []


def test_model_files_and_reset(tmp_path: Path) -> None:
    snapshot = Snapshot.create(tmp_path / "runs", "exp", code_dir=tmp_path)
    assert snapshot.fetch_last_model_file() is None
    Path(snapshot.make_path("a.pt")).write_bytes(b"a")
    snapshot.register_model_file("a.pt")
    assert snapshot.fetch_last_model_file() == str(Path(snapshot.root_path) / "artifacts" / "a.pt")
    snapshot.reset()
    assert snapshot.model_files == [] and not Path(snapshot.make_path("a.pt")).exists()
    assert Snapshot(snapshot.root_path).model_files == []


def test_dummy_snapshot_keeps_data_in_memory_only(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    dummy = DummySnapshot()
    with dummy.test_storage() as transaction:
        transaction.store("acc", 1.0)
    assert dummy.test_data == {"acc": 1.0}
    assert not Path(dummy.make_path("m.pt")).is_relative_to(tmp_path)
    assert list(tmp_path.iterdir()) == []
