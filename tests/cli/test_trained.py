"""eval and predict never silently use an untrained model; their outputs go into the run."""

from __future__ import annotations

import json
import shutil

import torch

from unitrain.cli import main
from unitrain.config.toml_out import dump_toml

from .conftest import tiny_config


def test_without_a_trained_model_they_refuse_unless_told(fitted, tmp_path, capsys):
    config = fitted.run_dir / "config.toml"
    for command in ("eval", "predict"):
        assert main([command, str(config), "--plain"]) == 2
        err = capsys.readouterr().err
        assert f"unitrain {command}: error: {command}: no trained model given" in err
        assert "--run latest" in err and "--untrained" in err
    assert main(["eval", str(config), "--untrained", "--plain"]) == 0
    captured = capsys.readouterr()
    assert "--untrained: using the task's untrained model" in captured.err
    assert main(["predict", str(config), "--untrained"]) == 2  # nowhere to save: say --out
    assert "pass --out" in capsys.readouterr().err
    out = tmp_path / "p.pt"
    assert main(["predict", str(config), "--untrained", "--out", str(out)]) == 0
    assert out.is_file() and not (tmp_path / "predictions.pt").exists()


def test_a_run_folder_and_latest_load_the_trained_weights(fitted, tmp_path, capsys):
    run = tmp_path / "runs" / "default" / fitted.run_dir.name
    shutil.copytree(fitted.run_dir, run)
    config = tiny_config(tmp_path)
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    assert main(["eval", str(run), "--plain"]) == 0  # the run folder instead of the config
    by_folder = capsys.readouterr().out
    assert main(["eval", str(path), "--run", "latest", "--plain"]) == 0
    by_latest = capsys.readouterr().out
    rows = [line for line in by_folder.splitlines() if line.startswith("│")]
    assert rows and rows == [line for line in by_latest.splitlines() if line.startswith("│")]
    written = sorted((run / "artifacts").glob("eval-*.json"))
    assert written and f"evaluation: written to {written[-1]}" in by_latest
    assert set(json.loads(written[-1].read_text())) == {"val"}
    assert main(["predict", str(run)]) == 0
    assert torch.load(run / "artifacts" / "predictions.pt", weights_only=True)


def test_latest_without_any_run_and_contradictions_are_refused(fitted, tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(tiny_config(tmp_path)))
    assert main(["eval", str(path), "--run", "latest"]) == 2
    assert "--run latest: no run with weights under" in capsys.readouterr().err
    assert main(["eval", str(fitted.run_dir), "--untrained"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main(["eval", str(tmp_path)]) == 2  # a folder that is no run
    assert "not a run folder" in capsys.readouterr().err
