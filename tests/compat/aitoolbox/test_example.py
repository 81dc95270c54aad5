"""The aitoolbox-style example runs: a mixed fit with a native plugin and a t3w side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.example_scripts import load_example


def test_example_trains_and_saves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("unitrain.compat.t3w")
    module = load_example("aitoolbox_style/train.py", "aitoolbox_style_example")
    assert module.main(["--epochs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert '"t3w_steps": 32' in out and '"native_epochs": 2' in out
    experiment = next((tmp_path / "blobs").iterdir())
    assert len(list((experiment / "checkpoint_model").iterdir())) == 2
    assert len(list((experiment / "model").iterdir())) == 1
