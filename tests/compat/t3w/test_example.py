"""The t3w-style example runs and learns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.example_scripts import load_example


def test_t3w_example_trains_and_keeps_two_checkpoints(tmp_path: Path, capsys: Any) -> None:
    example = load_example("t3w_style/train.py", "t3w_example")
    assert example.main(["--epochs", "3", "--out", str(tmp_path), "--plain"]) == 0
    accuracy = float(capsys.readouterr().out.split(":")[-1])
    assert accuracy > 0.9
    assert len(list(tmp_path.glob("moons-ep*-acc=*.pt.gz"))) == 2
