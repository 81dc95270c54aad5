"""Battery: every loader refuses a crafted pickle with unitrain's own message (what the file is,
why it was refused, what to do), and its payload never runs; numpy, which the distributed
collectives and the aitoolbox adapter need, is a declared dependency.
"""

from __future__ import annotations

import os
import pickle
import tomllib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from unitrain.errors import CheckpointError


def _evil(path: Path, marker: Path) -> Path:
    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        torch.save({"model": {"w": torch.ones(1)}, "x": Payload()}, stream, pickle_module=pickle)
    return path


def _assert_ours(error: pytest.ExceptionInfo[CheckpointError], what: str, path: Path) -> None:
    text = str(error.value)
    assert text.startswith(f"refused to load {what} {path}"), text
    assert "could run arbitrary code" in text and "weights_only=True" in text


def test_unitrain_eval_run_refuses_a_crafted_model_file(tmp_path: Path) -> None:
    from unitrain.cli.run_cmds import _final_state

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    evil = _evil(run / "artifacts" / "model.pt", marker)
    with pytest.raises(CheckpointError) as error:
        _final_state(run)
    _assert_ours(error, f"--run {run}: model file", evil)
    assert not marker.exists()


def test_the_aitoolbox_loader_refuses_a_crafted_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unitrain.compat.aitoolbox.callbacks.model_load import ModelLoadContinueTraining

    marker = tmp_path / "pwned"
    evil = _evil(tmp_path / "model_E3.pth", marker)
    callback = ModelLoadContinueTraining("2020_01_01", project_name="p", experiment_name="e")
    monkeypatch.setattr(callback, "try_infer_experiment_details", lambda **_: None)
    monkeypatch.setattr(callback, "find_checkpoint", lambda: str(evil))
    with pytest.raises(CheckpointError) as error:
        callback.on_train_loop_registration()
    _assert_ours(error, "aitoolbox model checkpoint", evil)
    assert not marker.exists()


def test_pytorch_task_load_model_refuses_a_crafted_file(tmp_path: Path) -> None:
    from unitrain.compat.pytorch_task.task import PytorchTask

    marker = tmp_path / "pwned"
    task = PytorchTask(nn.Linear(1, 1))
    evil = _evil(Path(task.snapshot.make_path("model.pt")), marker)
    with pytest.raises(CheckpointError) as error:
        task.load_model("model.pt")
    _assert_ours(error, "PytorchTask model file", evil)
    assert not marker.exists()


def test_numpy_is_a_declared_dependency() -> None:
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "numpy" for d in dependencies)
