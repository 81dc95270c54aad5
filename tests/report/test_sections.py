"""The report's tables: each recorded field shown, absent ones said to be "not recorded"."""

from __future__ import annotations

import re
from pathlib import Path

from unitrain.report.loaded import ReportRun, Source
from unitrain.report.records import Metrics
from unitrain.report.sections import (
    NOT_RECORDED,
    best_comparison,
    config_differences,
    duration,
    flatten,
    run_details,
    runs_table,
)

FULL = {
    "id": "20260101-000000-abcdef",
    "experiment": "digits",
    "status": "COMPLETED",
    "created": 1_767_225_600.0,
    "started": 1_767_225_600.0,
    "ended": 1_767_229_325.0,  # 1 h 2 min 5 s later
    "global_step": 120,
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True},
    "host": "box",
    "argv": ["unitrain", "fit", "run.toml"],
    "versions": {"python": "3.11.7", "torch": "2.13.0", "unitrain": "0.1.0"},
    "config": {"task_options": {"lr": 0.003, "<b>": "x"}, "trainer": {"max_epochs": 30}},
    "hyperparameters": {
        "max_epochs": 30,
        "max_steps": None,
        "optimizers": [{"class": "Adam", "groups": [{"lr": 0.003, "betas": [0.9, 0.999]}]}],
    },
    "model": {"class": "Sequential", "parameters": 1234, "trainable": 1200, "modules_total": 7},
    "plugins": [
        {"name": "run_store", "class": "unitrain.plugins.run_store.RunStore"}
        | {"order": -1000, "ranks": "main", "distribution": None},
        {"name": "epoch-timer", "class": "timer.Timer", "order": 5, "ranks": "all"}
        | {"distribution": "unitrain-timer"},
    ],
    "monitors": [{"plugin": "run_store", "metric": "val/loss", "mode": "min"}],
}


def make(info: dict, values=(), colour: str = "#1f77b4", label: str = "r") -> ReportRun:
    metrics = Metrics()
    for epoch, value in enumerate(values):
        metrics.add("val", "loss", 10 * (epoch + 1), value, epoch)
    source = Source(Path("/runs") / label, Path("/runs") / label / "metrics.jsonl")
    return ReportRun(source, info, metrics, label=label, colour=colour, status="COMPLETED")


def cell(html: str, header: str) -> str:
    found = re.search(rf"<tr><th>{re.escape(header)}</th><td>(.*?)</td></tr>", html)
    assert found, f"no row {header!r}"
    return found.group(1)


def test_every_recorded_field_is_shown():
    html = run_details(make(FULL, [0.9, 0.3, 0.5]))
    assert "0123456789abcdef0123456789abcdef01234567" in cell(html, "commit")
    assert "yes: uncommitted changes" in cell(html, "dirty")
    assert cell(html, "started") == "2026-01-01 00:00:00 UTC"
    assert cell(html, "duration") == "1:02:05"
    assert cell(html, "python") == "3.11.7" and cell(html, "torch") == "2.13.0"
    assert cell(html, "task_options.lr") == "0.003"
    assert cell(html, "task_options.&lt;b&gt;") == "x"  # escaped, not markup
    assert cell(html, "optimizer0") == "Adam" and cell(html, "optimizer0.group0.lr") == "0.003"
    assert "none" in cell(html, "max_steps")  # recorded as no limit: not "not recorded"
    assert cell(html, "parameters") == "1234"
    assert '<td class="plugin-name">epoch-timer</td>' in html and "unitrain-timer" in html
    assert html.index(">run_store<") < html.index(">epoch-timer<")
    best = re.search(r'<table class="best">(.*?)</table>', html).group(1)
    assert '<th>val/loss</th><td class="best-value">0.3</td><td>1</td><td>20</td>' in best
    assert "monitored by run_store" in best
    assert NOT_RECORDED not in html


def test_an_old_run_folder_renders_with_not_recorded():
    html = run_details(make({"id": "old", "status": "COMPLETED"}))
    for title in ("Code", "Versions", "Config", "Hyperparameters", "Model", "Plugins"):
        section = html.split(f"<h3>{title}")[1].split("<h3>")[0]
        assert NOT_RECORDED in section, title
    assert "No evaluation metrics were recorded" in html


def test_a_running_run_says_so():
    info = {**FULL, "status": "RUNNING", "ended": None, "heartbeat": FULL["started"] + 42.0}
    html = run_details(make(info))
    assert "not yet: running" in cell(html, "ended")
    assert cell(html, "duration") == "42.0 s so far"


def test_runs_table_has_each_runs_colour_and_short_commit():
    html = runs_table([make(FULL, label="a"), make({}, colour="#ff7f0e", label="b")])
    assert html.count('class="run-row"') == 2
    assert 'data-colour="#1f77b4"' in html and "background-color: #ff7f0e" in html
    assert "<code>0123456789</code> (dirty)" in html and NOT_RECORDED in html


def test_config_differences_list_only_what_differs():
    other = {**FULL, "config": {"task_options": {"lr": 0.1, "<b>": "x"}, "trainer": {}}}
    html = config_differences([make(FULL, label="a"), make(other, label="b")])
    rows = re.findall(r"<tr><th>([^<]*)</th>", html)
    # b's trainer table is empty: the table itself differs, and its one key
    assert rows == ["setting", "task_options.lr", "trainer", "trainer.max_epochs"]
    assert cell(html.replace("</td><td>", "|"), "task_options.lr") == "0.003|0.1"
    assert NOT_RECORDED in html  # b has no trainer.max_epochs
    same = config_differences([make(FULL, label="a"), make(FULL, label="b")])
    assert "Every recorded setting is the same" in same


def test_best_comparison_marks_the_better_run():
    html = best_comparison([make(FULL, [0.5, 0.4], label="a"), make(FULL, [0.3, 0.6], label="b")])
    assert "<th>val/loss (min)</th>" in html
    assert '<td class="">0.4 (epoch 1)</td><td class="winner">0.3 (epoch 0)</td>' in html


def test_flatten_and_duration():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }
    assert duration({"started": 0.0, "ended": 3599.6}) == "1:00:00"
    assert duration({"started": 0.0}) is None
