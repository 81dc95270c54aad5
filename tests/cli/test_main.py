"""The command line in-process: print-config, eval, predict, demo, failures, logging."""

from __future__ import annotations

import io
import json
import logging
import shutil
import tomllib
import warnings

import torch
from rich.console import Console
from rich.logging import RichHandler

from unitrain.cli import main
from unitrain.config import RunConfig, dump_toml
from unitrain.log import cli_logging, get_logger

from .conftest import tiny_config

EXPLODE = """
class Explode:
    def on_epoch_end(self, state):
        raise RuntimeError("boom at epoch end")
"""


def write_config(tmp_path, **trainer):
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(tiny_config(tmp_path, **trainer)))
    return path


def test_print_config_prints_the_resolved_toml(tmp_path, capsys):
    path = write_config(tmp_path)
    assert main(["fit", str(path), "--print-config", "--set", "trainer.max_epochs=7"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    assert RunConfig.model_validate(printed).trainer.max_epochs == 7
    assert not (tmp_path / "runs").exists()


def val_rows(text):
    return [line for line in text.splitlines() if line.startswith("│ val")]


def test_eval_and_predict_use_the_trained_weights(fitted, tmp_path, capsys):
    config = fitted.run_dir / "config.toml"
    assert main(["eval", str(config), "--run", str(fitted.run_dir), "--plain"]) == 0
    out = capsys.readouterr().out
    assert len(val_rows(out)) == 2 and "accuracy" in out and "loss" in out
    predictions = tmp_path / "predictions.pt"
    args = ["predict", str(config), "--run", str(fitted.run_dir), "--out", str(predictions)]
    assert main(args) == 0
    outputs = torch.load(predictions, weights_only=True)
    assert len(outputs) == 2 and outputs[0].shape == (8, 2)  # the 'val' split: 2 batches of 8
    unfinished = tmp_path / "unfinished"  # no final weights: the newest checkpoint is used
    shutil.copytree(fitted.run_dir, unfinished)
    (unfinished / "artifacts" / "model.pt").unlink()
    assert main(["eval", str(config), "--run", str(unfinished), "--split", "val"]) == 0
    assert val_rows(capsys.readouterr().out) == val_rows(out)  # the same weights
    assert main(["eval", str(config), "--run", str(tmp_path)]) == 2
    assert "no model.pt or checkpoints in it" in capsys.readouterr().err


def test_failing_plugin_exits_1_and_marks_the_run_failed(fake_distribution, tmp_path, capsys):
    fake_distribution(
        "ut-explode",
        "0.1",
        entry_points={"unitrain": {"explode": "ut_explode:Explode"}},
        modules={"ut_explode.py": EXPLODE},
    )
    assert main(["fit", str(write_config(tmp_path)), "-p", "explode", "--plain"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom at epoch end" in err
    assert "raised by plugin 'explode' (from ut-explode 0.1) in hook 'on_epoch_end'" in err
    (run,) = (tmp_path / "runs" / "default").iterdir()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "FAILED"


def test_broken_plugin_exits_2_before_any_run_exists(fake_distribution, tmp_path, capsys):
    fake_distribution(
        "ut-broken",
        "3.0",
        entry_points={"unitrain": {"broken": "ut_broken_cli:Plugin"}},
        modules={"ut_broken_cli.py": "raise ValueError('cannot import me')\n"},
    )
    path = write_config(tmp_path)
    assert main(["fit", str(path), "-p", "broken"]) == 2
    err = capsys.readouterr().err
    assert "entry point 'broken' = 'ut_broken_cli:Plugin' of ut-broken 3.0 failed" in err
    assert not (tmp_path / "runs").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the CLI routes warnings to its log handler
        assert main(["fit", str(path), "-p", "broken", "--lenient-plugins", "--plain"]) == 0
    err = capsys.readouterr().err
    assert "PluginLoadWarning: skipped: entry point 'broken'" in " ".join(err.split())


def test_demo_runs_the_digits_example(tmp_path, capsys):
    out = tmp_path / "digits"
    args = ["--epochs", "1", "--out", str(out), "--target", "0.5", "--plain"]
    assert main(["demo", *args]) == 0
    assert json.loads((out / "result.json").read_text())["accuracy"] >= 0.5


def test_cli_logging_is_quiet_on_other_ranks_and_restored_after():
    logger = get_logger()
    before = (logger.level, logger.propagate, list(logger.handlers))
    with cli_logging(rank=1) as handler:
        assert handler.level == logging.ERROR
        assert handler in logger.handlers and not logger.propagate
    with cli_logging(rank=0, verbose=1) as handler:
        assert handler.level == logging.DEBUG
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    with warnings.catch_warnings():  # captureWarnings was switched off again
        warnings.simplefilter("always")
        assert logging.getLogger("py.warnings").handlers == []


def test_rich_on_a_terminal_plain_lines_otherwise():
    with cli_logging(Console(force_terminal=True), rank=0) as handler:
        assert isinstance(handler, RichHandler)
    stream = io.StringIO()
    with cli_logging(Console(file=stream), rank=0) as handler:
        assert not isinstance(handler, RichHandler)
        get_logger("cli").info("a message that is long enough to be folded by a console " * 3)
    (line,) = stream.getvalue().splitlines()
    assert " INFO unitrain.cli: a message that is long enough" in line
    assert "\x1b" not in line


def test_plugins_table_and_json(fake_distribution, capsys, monkeypatch):
    """(In a subprocess with a real installed package: tests/cli/test_plugin_package.py.)"""
    fake_distribution(
        "ut-listed",
        "4.5.6",
        entry_points={"unitrain": {"listed": "ut_listed:Plugin", "other": "ut_listed:Other"}},
        modules={"ut_listed.py": "raise ImportError('listing must not import plugins')\n"},
    )
    monkeypatch.setenv("UNITRAIN_PLUGINS", "other")
    assert main(["plugins", "-p", "listed", "-p", "no:other"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = [line for line in out.splitlines() if "ut-listed" in line]
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")] for line in lines}
    assert set(rows) == {"listed", "other"}
    assert rows["listed"][2] == "ut-listed 4.5.6" and "ut_listed:Plugin" in rows["listed"][4]
    assert rows["listed"][3] == "yes"
    assert rows["other"][3] == "no"
    # the built-ins are listed beside it, each with its options
    (clipping,) = [line for line in out.splitlines() if "gradient_clipping" in line]
    assert "built-in" in clipping and "max_norm=None" in clipping
    monkeypatch.delenv("UNITRAIN_PLUGINS")
    assert main(["plugins", "--json", "-p", "all"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["enabled"] for r in listed if r["distribution"] == "ut-listed"} == {
        "listed": True,
        "other": True,
    }
    assert [r["options"] for r in listed if r["name"] == "listed"] == [None]
    builtins = {r["name"]: r for r in listed if r["builtin"]}
    assert set(builtins) >= {"checkpoint", "tensorboard", "mlflow", "nan_guard", "progress"}
    assert "path (required)" in builtins["metrics_log"]["options"]
    # --options imports it: the broken module's error is shown, the listing goes on
    assert main(["plugins", "--json", "--options"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (options,) = [r["options"] for r in listed if r["name"] == "listed"]
    assert options == ["(failed to load: ImportError: listing must not import plugins)"]


def test_compile_is_a_task_option_of_the_config(tmp_path, capsys):
    # Task options are the task function's arguments: one that takes `compile` and passes it
    # to Task(compile=...) (the tiny task, the digits example) makes it a config setting
    path = write_config(tmp_path)
    setting = 'task_options.compile={backend = "eager"}'
    assert main(["fit", str(path), "--plain", "--set", setting]) == 0
    run = next((tmp_path / "runs" / "default").iterdir())
    assert tomllib.loads((run / "config.toml").read_text())["task_options"] == {
        "compile": {"backend": "eager"}
    }
    weights = torch.load(run / "artifacts" / "model.pt", weights_only=True)
    assert list(weights["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # no _orig_mod.
    capsys.readouterr()
    assert main(["eval", str(run / "config.toml"), "--run", str(run), "--plain"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["fit", str(path), "--plain", "--set", "task_options.compile=yes"]) == 2
    assert "Task(compile=...): expected True, False or a dict" in capsys.readouterr().err
    assert len(list((tmp_path / "runs" / "default").iterdir())) == 1  # refused before a run
