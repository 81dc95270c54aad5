"""The report in headless Chromium: every element in the DOM, a screenshot that is not
blank, and the comparison page of two real runs with one colour per run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from unitrain.report import write_report
from unitrain.report.colours import run_colour

from ._chromium import (
    count,
    count_loads,
    distinct_colours,
    dump_dom,
    needs_chromium,
    screenshot,
)
from ._runs import train_run

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

pytestmark = needs_chromium


def section(dom: str, css_class: str) -> str:
    found = re.search(rf'<table class="{css_class}">(.*?)</table>', dom, re.S)
    assert found, f"no table {css_class!r} in the page"
    return found.group(1)


def test_one_real_run_shows_every_element(tmp_path: Path) -> None:
    run = train_run(tmp_path, lr=0.1)
    info = json.loads((run / "run.json").read_text())
    page = write_report(run)
    dom = dump_dom(page, tmp_path)
    figures = re.findall(r'<figure id="([^"]+)">', dom)
    assert f'data-figures-loaded="{len(figures)}"' in dom  # every PNG decoded
    assert {"loss", "accuracy", "lr", "heatmap-weight_gradients_norm2"} <= set(figures)
    assert "<th>lr</th><td>0.1</td>" in section(dom, "config")
    assert "<th>optimizer0.group0.momentum</th><td>0.9</td>" in section(dom, "hyperparameters")
    git = section(dom, "git")
    if info["git"] is None:
        assert "not a git work tree" in git
    else:
        assert info["git"]["commit"] in git and '<span class="dirty">' in git
    versions = section(dom, "versions")
    for name in ("python", "torch", "unitrain", "pluggy"):
        assert f"<th>{name}</th><td>{info['versions'][name]}</td>" in versions
    times = section(dom, "times")
    assert "<th>started</th><td>20" in times and re.search(r"<th>duration</th><td>[\d.]+ s<", times)
    plugins = section(dom, "plugins")
    assert "early_stopping" in plugins and "unitrain.bus.log.BusLog" in plugins
    best = section(dom, "best")
    assert "<th>val/loss</th>" in best and "monitored by run_store, early_stopping" in best
    heatmap = dom.split('<figure id="heatmap-weight_gradients_norm2">')[1].split("</figure>")[0]
    assert "Rows, top to bottom: 0 (Linear), 2 (Linear), 4 (Linear)." in heatmap
    assert "not recorded" not in dom  # a run of today records everything the page shows
    pixels = screenshot(page, tmp_path, height=2400)
    assert distinct_colours(pixels) > 200  # text, tables and plots: not a blank page


def test_the_comparison_page_of_two_real_runs(tmp_path: Path) -> None:
    slow, fast = train_run(tmp_path, lr=0.05), train_run(tmp_path, lr=0.5)
    page = write_report(tmp_path / "tiny")
    dom = dump_dom(page, tmp_path)
    legend = re.search(r'<div class="legend" id="legend">(.*?)</div>', dom).group(1)
    items = re.findall(r'data-colour="(#\w+)">.*?</span>([^<]+)</span>', legend)
    assert items == [(run_colour(0), slow.name), (run_colour(1), fast.name)]
    rows = re.findall(r'<tr class="run-row" data-colour="(#\w+)">', dom)
    assert rows == [run_colour(0), run_colour(1)]  # the table's colours are the legend's
    differ = re.search(r'<table id="config-differences">(.*?)</table>', dom).group(1)
    assert "<th>lr</th><td>0.05</td><td>0.5</td>" in differ
    assert "<th>hyperparameters.optimizer0.group0.lr</th><td>0.05</td><td>0.5</td>" in differ
    assert "epochs" not in differ  # the same in both runs
    best = re.search(r'<table id="best-comparison">(.*?)</table>', dom).group(1)
    assert "<th>val/loss (min)</th>" in best and best.count('class="winner"') >= 2
    figures = re.findall(r'<figure id="([^"]+)">', dom)
    assert f'data-figures-loaded="{len(figures)}"' in dom
    assert {"compare-loss-train", "compare-loss-val", "compare-learning-rate"} <= set(figures)
    assert {"run-0-heatmap-weight_gradients_norm2", "run-1-heatmap-weight_gradients_norm2"} <= set(
        figures
    )
    pixels = screenshot(page, tmp_path, height=3000)
    assert distinct_colours(pixels) > 200
    # both runs' colours drawn over far more than the legend's few swatches: the chart lines
    # (measured: about 1200 pixels each without the charts, 4200 with them)
    assert count(pixels, run_colour(0)) > 2500 and count(pixels, run_colour(1)) > 2500


def test_a_live_page_reloads_itself_from_file_and_a_final_one_does_not(tmp_path: Path) -> None:
    run = train_run(tmp_path, lr=0.1)
    live = write_report(run, tmp_path / "live", refresh=1)
    final = write_report(run, tmp_path / "final")
    assert count_loads(live, 5, tmp_path) >= 2  # <meta http-equiv="refresh" content="1">
    assert count_loads(final, 5, tmp_path) == 1
