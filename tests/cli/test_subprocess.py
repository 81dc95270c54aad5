"""The command line end to end, each command in its own process, output not a terminal."""

from __future__ import annotations

import importlib.util
import json
import tomllib

from unitrain.testing import run_cli

from .conftest import tiny_config

ESC = "\x1b"


def test_fit_records_everything_in_the_run_folder(fitted):
    run = fitted.run_dir
    assert ESC not in fitted.stdout + fitted.stderr  # no control codes when not a terminal
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "COMPLETED"
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["trainer"]["max_epochs"] == 2
    assert saved["task"] == "unitrain.testing.tiny:tiny_task"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} >= {"train", "val"}
    assert max(r["step"] for r in records) == 8  # 2 epochs × 4 batches
    assert [r["lr"] for r in records if "lr" in r] == [0.1] * 8  # tiny_task's SGD(lr=0.1)
    assert (run / "artifacts" / "model.pt").is_file()


def test_report_writes_page_and_plots(fitted):
    result = run_cli(["report", str(fitted.run_dir)]).check()
    page = fitted.run_dir / "report" / "index.html"
    assert f"report: {page}" in result.stdout
    html = page.read_text()
    assert 'id="loss"' in html and 'id="accuracy"' in html and 'id="lr"' in html
    assert (fitted.run_dir / "report" / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_runs_lists_the_run_or_says_what_it_needs(fitted):
    root = fitted.run_dir.parent.parent
    result = run_cli(["runs", str(root)])
    if importlib.util.find_spec("unitrain.runs.listing") is None:
        assert result.returncode == 1
        assert "needs the run store" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert fitted.run_dir.name in result.stdout
    assert ESC not in result.stdout + result.stderr


def test_bad_config_exits_2_listing_every_problem(tmp_path, unitrain_fit):
    config = tiny_config(tmp_path, max_epoch=3, accumulation=0)
    config["pluginz"] = ["x"]
    result = unitrain_fit(config)  # the fixture of unitrain's own pytest plugin
    assert result.returncode == 2
    assert "3 problem(s) in" in result.stderr
    assert "run.toml:3: pluginz: unknown setting; did you mean 'plugins'?" in result.stderr
    assert (
        "run.toml:8: trainer.max_epoch: unknown setting; did you mean 'max_epochs'?"
        in result.stderr
    )
    assert "trainer.accumulation: Input should be greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started
