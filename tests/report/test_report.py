"""The HTML report: every expected plot, both record shapes, and a real browser render."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unitrain.errors import ConfigError, UnitrainError
from unitrain.report import read_metrics, write_report

pytest.importorskip("matplotlib")

CHROMIUM = "/usr/bin/chromium"
LAYERS = ("fc1.weight", "fc2.weight", "fc3.weight")


def make_run(path: Path) -> Path:
    """A run folder with long and wide records, an lr and per-layer bus statistics."""
    path.mkdir()
    lines = []
    for step in range(1, 41):
        lines.append(
            {"split": "train", "name": "loss", "value": 2 / step, "epoch": 0, "step": step}
        )
        lines.append({"split": "train", "name": "lr", "value": 0.1 * 0.95**step, "step": step})
        for depth, layer in enumerate(LAYERS):
            stats = {f"grad_norm/{layer}": 10.0**-depth / step, f"update_ratio/{layer}": 1e-3}
            lines.append({"split": "train", "step": step, "epoch": 0, **stats})  # wide shape
        if step % 10 == 0:
            lines.append({"split": "val", "step": step, "loss": 1 / step, "accuracy": step / 40})
    text = "\n".join(json.dumps(line) for line in lines)
    (path / "metrics.jsonl").write_text(text + '\n{"split": "train", "name": "lo')  # torn line
    (path / "run.json").write_text(json.dumps({"id": "r1", "status": "COMPLETED", "restarts": 0}))
    return path


def test_records_of_both_shapes_are_read(tmp_path):
    metrics = read_metrics(make_run(tmp_path / "run") / "metrics.jsonl")
    assert set(metrics.series) == {"loss", "lr", "accuracy"}
    assert set(metrics.series["loss"]) == {"train", "val"}
    assert len(metrics.series["loss"]["train"].values) == 40
    assert set(metrics.layers) == {"grad_norm", "update_ratio"}
    assert list(metrics.layers["grad_norm"]) == list(LAYERS)
    assert metrics.final()["val"] == {"loss": 1 / 40, "accuracy": 1.0}
    assert set(metrics.learning_rates) == {"lr"}


def test_report_has_every_expected_plot(tmp_path):
    page = write_report(make_run(tmp_path / "run"))
    assert page == tmp_path / "run" / "report" / "index.html"
    expected = {"loss", "accuracy", "lr", "heatmap-grad_norm", "heatmap-update_ratio"}
    for stem in expected:
        assert (page.parent / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = page.read_text()
    assert set(re.findall(r'<figure id="([^"]+)">', html)) == expected
    assert html.count("data:image/png;base64,") == len(expected)  # self-contained
    assert "Update:weight ratio" in html and "COMPLETED" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from a network
    # an older run.json (no versions, git, config, plugins...) still renders, saying so
    for title in ("Code", "Versions", "Config", "Hyperparameters", "Model", "Plugins"):
        assert "not recorded" in html.split(f"<h3>{title}")[1].split("<h3>")[0], title


def test_not_a_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is not a run folder"):
        write_report(tmp_path)


def test_missing_matplotlib_says_which_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UnitrainError, match=r"pip install 'unitrain\[report\]'"):
        write_report(make_run(tmp_path / "run"))


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium to render with")
def test_page_renders_in_headless_chromium_without_console_errors(tmp_path):
    page = write_report(make_run(tmp_path / "run"))
    profile = tmp_path / "profile"
    profile.mkdir()
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # The page's script counts the figures that decoded; every console message is a failure.
    assert 'data-figures-loaded="5"' in done.stdout
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    shutil.rmtree(profile, ignore_errors=True)


def test_bus_log_records_become_heatmaps(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"split": "bus", "name": f"weight_gradients_norm2/{layer}", "value": 0.5, "step": step}
        | {"module": layer, "module_class": kind}
        for step in range(3)
        for layer, kind in (("0", "Linear"), ("2", "Conv2d"))
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = write_report(run)
    assert (page.parent / "heatmap-weight_gradients_norm2.png").is_file()
    assert read_metrics(run / "metrics.jsonl").modules == {"0": "Linear", "2": "Conv2d"}
    html = page.read_text()
    assert "Gradient norm per layer: weight_gradients_norm2" in html
    assert "Rows, top to bottom: 0 (Linear), 2 (Conv2d)." in html  # named, not 0, 2
