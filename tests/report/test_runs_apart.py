"""A report never draws two runs as one line: it asks which run, or takes one file."""

from __future__ import annotations

import json
import shutil

import pytest

from unitrain.cli import main
from unitrain.errors import ConfigError
from unitrain.report import write_report

from .test_report import make_run

pytest.importorskip("matplotlib")


def test_an_experiment_folder_asks_which_run(tmp_path, capsys):
    experiment = tmp_path / "digits"
    experiment.mkdir()
    first = make_run(experiment / "20260101-000000-a")
    second = make_run(experiment / "20260102-000000-b")
    with pytest.raises(ConfigError) as caught:
        write_report(experiment)
    message = str(caught.value)
    assert f"{experiment} holds 2 runs; which one? (newest first)" in message
    assert message.index(str(second)) < message.index(str(first))
    assert main(["report", str(experiment)]) == 2  # refused, nothing drawn
    assert "which one?" in capsys.readouterr().err
    assert not (experiment / "report").exists()


def test_several_metrics_files_in_one_folder_are_reported_one_at_a_time(tmp_path):
    run = make_run(tmp_path / "run")
    shutil.copy(run / "metrics.jsonl", run / "metrics.2.jsonl")
    with pytest.raises(ConfigError, match=r"holds the metrics of 2 runs \(metrics.jsonl, "):
        write_report(run)
    page = write_report(run / "metrics.2.jsonl")
    assert page == run / "report-metrics.2" / "index.html"
    assert json.dumps("loss")[1:-1] in page.read_text()
