"""The PytorchTask-style example (a mixed fit of three plugin styles) runs and learns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.example_scripts import load_example
from unitrain.compat.pytorch_task.cli import latest_snapshot


def test_pytorch_task_example_trains_tests_and_mixes_styles(tmp_path: Path, capsys: Any) -> None:
    example = load_example("pytorch_task_style/train.py", "pytorch_task_example")
    assert example.main(["train", "--force", "--root", str(tmp_path)]) == 0
    assert example.main(["test", "--ignore", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("[t3w side effect] epoch") for line in out) == 5
    assert sum(line.startswith("[native plugin] epoch") for line in out) == 5
    snapshot = latest_snapshot(tmp_path, "blobs")
    assert snapshot is not None and snapshot.test_data["loss"] > 0.9
    losses = snapshot.train_data["loss"]
    assert losses[-1] < 0.5 * losses[0]
