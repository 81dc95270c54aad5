"""Battery: ownership and path attacks. Nothing outside the run is touched, ever.

Folders unitrain did not write survive pruning; a checkpoint copied elsewhere (or one whose
saved run folder names a victim) never reopens another run; names with ``/`` or ``..`` are
refused where they enter (Python API, config, CLI); symbolic links are not followed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.runs.battery import (
    EPOCHS,
    caught,
    crashed_run,
    only_run,
    plugins,
    rehash,
    straight,
    tree_state,
)
from tests.runs.trainkit import assert_same, make_data, make_trainer, snapshot
from unitrain.errors import CheckpointError, ConfigError, RunError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint, write_checkpoint
from unitrain.runs.store import create_run


def test_pruning_never_deletes_what_unitrain_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "ckpts"
    (folder / "my_dataset").mkdir(parents=True)
    (folder / "my_dataset" / "x.csv").write_text("1,2\n")
    (folder / "notes").mkdir()
    (folder / "step-000000001").mkdir()  # a checkpoint's name, but no manifest: not ours
    (folder / "step-000000001" / "mine.txt").write_text("keep me")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me too")
    (folder / "step-000000002").symlink_to(outside, target_is_directory=True)
    (folder / "README").write_text("a file")
    foreign = {k: v for k, v in tree_state(folder).items() if not k.startswith("step-0000000")}
    with caught() as messages:
        make_trainer([Checkpoint(folder, every_n_steps=1, keep_last=3)]).fit(make_data())
    state = tree_state(folder)
    assert all(state.get(key) == value for key, value in foreign.items())
    # the two folders in the way of a checkpoint's name were moved aside, whole, and said so
    (mine,) = folder.glob("step-000000001.not-a-checkpoint-*")
    assert (mine / "mine.txt").read_text() == "keep me"
    (link,) = folder.glob("step-000000002.not-a-checkpoint-*")
    assert link.is_symlink() and (outside / "precious").read_text() == "keep me too"
    assert sum("was not a unitrain checkpoint" in m for m in messages) == 2
    ours = [p.name for p in list_checkpoints(folder)]
    assert ours == ["step-000000016", "step-000000017", "step-000000018"]


def test_a_copied_checkpoint_never_reopens_its_original_run(tmp_path: Path) -> None:
    _root, run = crashed_run(tmp_path)
    before = tree_state(run)
    copy = tmp_path / "copies" / "step-000000007"
    copy.parent.mkdir()
    shutil.copytree(run / "checkpoints" / "step-000000007", copy)
    other_root = tmp_path / "other"
    trainer = make_trainer(plugins(other_root), max_epochs=EPOCHS, init_seed=5)
    trainer.fit(make_data(), eval_data=make_data(), resume=copy)
    assert tree_state(run) == before  # status, metrics.jsonl, checkpoints: untouched
    new = only_run(other_root)
    info = json.loads((new / "run.json").read_text())
    assert info["resumed_from"] == str(copy) and info["status"] == "COMPLETED"
    assert_same(straight()[0], snapshot(trainer))  # and it continued exactly


def test_a_saved_run_dir_naming_a_victim_is_not_trusted(tmp_path: Path) -> None:
    root, run = crashed_run(tmp_path)
    _victim_root, victim = crashed_run(tmp_path / "victim")
    before = tree_state(victim)
    checkpoint = run / "checkpoints" / "step-000000007"
    state = load_checkpoint(checkpoint)["state"]
    state["plugins"]["run_store"]["run_dir"] = str(victim)  # what a crafted file would say
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (checkpoint / "state.pt").write_bytes(buffer.getvalue())
    rehash(checkpoint)
    make_trainer(plugins(root), max_epochs=EPOCHS).fit(
        make_data(), eval_data=make_data(), resume="latest"
    )
    assert tree_state(victim) == before
    assert json.loads((run / "run.json").read_text())["status"] == "COMPLETED"


@pytest.mark.parametrize("name", ["../../victim/runs/secret", "a/b", "..", ".hidden", ""])
def test_run_and_experiment_names_are_refused_where_they_enter(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a plain folder name"):
        RunStore(tmp_path, name)
    with pytest.raises(ConfigError, match="not a plain folder name"):
        create_run(tmp_path, name)
    with pytest.raises(ConfigError, match="not a plain folder name"):
        write_checkpoint(tmp_path, name or "x/", {"state.pt": {}})
    with pytest.raises(ConfigError, match="not a plain folder name"):
        write_checkpoint(tmp_path, "step-000000001", {name or "/": {}})
    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_an_experiment_with_a_slash_before_any_work(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        'task = "x.py:t"\ndata = "x.py:d"\n[trainer]\nmax_epochs = 1\n'
        f'[run]\nroot = "{tmp_path / "runs"}"\nexperiment = "a/b"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "unitrain", "fit", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "experiment" in done.stderr and "not a plain folder name" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_symlinked_metrics_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root, run = crashed_run(tmp_path)
    target = tmp_path / "precious.log"
    target.write_text("x" * 10_000)
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(target)
    with pytest.raises(RunError, match=r"metrics\.jsonl cannot be opened.*symbolic link"):
        make_trainer(plugins(root), max_epochs=EPOCHS).fit(make_data(), resume="latest")
    assert target.read_text() == "x" * 10_000


def test_symlinked_checkpoint_folders_are_not_checkpoints(tmp_path: Path) -> None:
    _root, run = crashed_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (run / "checkpoints" / "step-000000007").rename(elsewhere)
    (run / "checkpoints" / "step-000000099").symlink_to(elsewhere, target_is_directory=True)
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "step-000000006"
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_checkpoint(run / "checkpoints" / "step-000000099")


def test_a_fifo_in_a_manifest_does_not_hang(tmp_path: Path) -> None:
    root, run = crashed_run(tmp_path)
    checkpoint = run / "checkpoints" / "step-000000007"
    (checkpoint / "state.pt").unlink()
    os.mkfifo(checkpoint / "state.pt")
    with caught() as messages:  # opening a FIFO for reading would block: it is never opened
        trainer = make_trainer(plugins(root), max_epochs=EPOCHS)
        trainer.fit(make_data(), eval_data=make_data(), resume="latest")
    assert_same(straight()[0], snapshot(trainer))  # from step 6
    assert any("state.pt cannot be read" in m and "FIFO" in m for m in messages), messages


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root, run = crashed_run(tmp_path)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    (run / ".lock").unlink()
    (run / ".lock").symlink_to(precious)
    before = tree_state(run)
    with pytest.raises(RunError, match=r"\.lock cannot be used as the folder's lock"):
        make_trainer(plugins(root), max_epochs=EPOCHS).fit(make_data(), resume="latest")
    assert precious.read_text() == "keep" and tree_state(run) == before
