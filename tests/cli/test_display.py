"""What the command shows: one-line INFO records in 80 columns, ISO times, the plugin list
only with -v, `--resume latest` in the help, and the command that resumes a stopped fit."""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

import unitrain.cli
from unitrain.cli import main
from unitrain.cli.parser import make_parser
from unitrain.config.toml_out import dump_toml
from unitrain.log import cli_logging

from .conftest import tiny_config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_fit_help_mentions_resume_latest():
    fit = make_parser()._subparsers._group_actions[0].choices["fit"]  # type: ignore[union-attr]
    assert "--resume latest" in " ".join(fit.format_help().split())


def test_info_lines_fit_80_columns_and_the_plugin_list_is_debug(tmp_path, monkeypatch):
    config = tiny_config(tmp_path)
    config["run"]["progress"] = False
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    screens = []

    def terminal():
        screens.append(io.StringIO())
        return Console(file=screens[-1], width=80, force_terminal=True)

    monkeypatch.setattr(unitrain.cli, "make_console", terminal)
    assert main(["fit", str(path)]) == 0
    lines = ANSI.sub("", screens[-1].getvalue()).splitlines()
    records = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert any("checkpoint step-" in line for line in records)
    assert any("run completed after 8 steps" in line for line in records)
    assert all(len(line) <= 80 for line in lines)
    assert not [line for line in lines if line.startswith(" ")]  # no record wrapped
    assert not any("plugins:" in line for line in lines)
    assert main(["-v", "fit", str(path)]) == 0
    assert "plugins: " in ANSI.sub("", screens[-1].getvalue())


def test_plain_lines_have_iso_timestamps():
    stream = io.StringIO()
    with cli_logging(Console(file=stream, force_terminal=False), rank=0):
        logging.getLogger("unitrain.cli").info("hello")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d INFO unitrain.cli: hello$", stream.getvalue())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_fit_prints_the_command_that_resumes_it(tmp_path, signum):
    config = tiny_config(tmp_path)
    # 8192 steps an epoch: a few seconds even on a fast host (8192 samples ran both epochs
    # in 0.5 s here, before a signal sent after 0.5 s arrived)
    config["data_options"] = {"n": 65536}
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "unitrain", "fit", str(path), "--set", "run.seed=3"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # "run: <folder>", printed at fit start
    assert first.startswith("run: "), first
    metrics = Path(first.removeprefix("run: ").strip(), "metrics.jsonl")
    if not metrics.is_absolute():
        metrics = tmp_path / metrics
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and '"train"' in metrics.read_text()):  # training has begun
        assert time.monotonic() < deadline and process.poll() is None, "no training step logged"
        time.sleep(0.01)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    run = first.removeprefix("run: ").strip()
    expected = f"unitrain fit {shlex.quote(str(path))} --resume {run} --set run.seed=3"
    assert f"Continue with:\n  {expected}\n" in err
    words = shlex.split(expected)
    resumed = subprocess.run(
        [sys.executable, "-m", *words], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"run: {run}" in resumed.stdout  # the same run continued
