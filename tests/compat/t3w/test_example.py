"""The t3w-style example runs and learns."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "t3w_style" / "train.py"


def test_t3w_example_trains_and_keeps_two_checkpoints(tmp_path: Path, capsys: Any) -> None:
    spec = importlib.util.spec_from_file_location("t3w_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--epochs", "3", "--out", str(tmp_path), "--plain"]) == 0
    accuracy = float(capsys.readouterr().out.split(":")[-1])
    assert accuracy > 0.9
    assert len(list(tmp_path.glob("moons-ep*-acc=*.pt.gz"))) == 2
