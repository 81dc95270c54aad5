"""Several runs are never drawn as one line: an experiment folder (or several RUNs) makes a
comparison page with one line per run; a folder with several metrics files asks which."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from unitrain.cli import main
from unitrain.errors import ConfigError
from unitrain.report import write_report

from .test_report import make_run

pytest.importorskip("matplotlib")


def test_an_experiment_folder_makes_one_comparison_page(tmp_path, capsys):
    experiment = tmp_path / "digits"
    experiment.mkdir()
    first = make_run(experiment / "20260101-000000-a")
    second = make_run(experiment / "20260102-000000-b")
    for run, created, lr in ((first, 1.0, 0.1), (second, 2.0, 0.3)):
        info = {"id": run.name, "status": "COMPLETED", "created": created, "config": {"lr": lr}}
        (run / "run.json").write_text(json.dumps(info))
    assert main(["report", str(experiment)]) == 0
    page = experiment / "report" / "index.html"
    assert capsys.readouterr().out.strip() == f"report: {page}"
    html = page.read_text()
    assert "unitrain: 2 runs of" in html
    # one line per run and split, never the two runs' records joined into one line
    figures = set(re.findall(r'<figure id="([^"]+)">', html))
    assert {"compare-loss-train", "compare-loss-val", "compare-accuracy-val"} <= figures
    assert {"run-0-heatmap-grad_norm", "run-1-heatmap-grad_norm"} <= figures
    assert html.index(first.name) < html.index(second.name)  # oldest first: colour 0
    diff = re.search(r'<table id="config-differences">(.*?)</table>', html).group(1)
    assert "<th>lr</th><td>0.1</td><td>0.3</td>" in diff


def test_several_runs_named_on_the_command_line(tmp_path, capsys):
    first, second = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    assert main(["report", str(first), str(second)]) == 0
    assert (tmp_path / "report-compare" / "index.html").is_file()
    out = tmp_path / "elsewhere"
    assert main(["report", str(first), str(second), "--out", str(out)]) == 0
    assert "2 runs" in (out / "index.html").read_text()


def test_runs_in_different_folders_need_an_out_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir(), (tmp_path / "y").mkdir()
    first, second = make_run(tmp_path / "x" / "a"), make_run(tmp_path / "y" / "b")
    assert main(["report", str(first), str(second)]) == 2  # refused, nothing drawn
    assert "pass --out DIR" in capsys.readouterr().err


def test_several_metrics_files_in_one_folder_are_reported_one_at_a_time(tmp_path):
    run = make_run(tmp_path / "run")
    shutil.copy(run / "metrics.jsonl", run / "metrics.2.jsonl")
    with pytest.raises(ConfigError, match=r"holds the metrics of 2 runs \(metrics.jsonl, "):
        write_report(run)
    page = write_report(run / "metrics.2.jsonl")
    assert page == run / "report-metrics.2" / "index.html"
    assert json.dumps("loss")[1:-1] in page.read_text()
