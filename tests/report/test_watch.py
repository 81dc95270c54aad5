"""``unitrain report --watch``: the page is written again on every change, reloads itself
while the run is live, and the watch ends when the run ends or on Ctrl-C (exit 0)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from unitrain.cli import main
from unitrain.errors import ConfigError
from unitrain.report import watch_report

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[2]


def live_run(path: Path) -> Path:
    """A run folder as a training process leaves it mid-fit: RUNNING, a fresh heartbeat."""
    path.mkdir(parents=True)
    now = time.time()
    info = {"id": path.name, "status": "RUNNING", "created": now, "started": now}
    (path / "run.json").write_text(json.dumps(info | {"heartbeat": now, "ended": None}))
    append(path, 1, 0.9)
    return path


def append(path: Path, step: int, loss: float, **more: float) -> None:
    record = {"split": "train", "epoch": 0, "step": step, "loss": loss}
    with (path / "metrics.jsonl").open("a") as metrics:
        metrics.write(json.dumps(record) + "\n")
        if more:
            metrics.write(json.dumps({"split": "val", "epoch": 0, "step": step, **more}) + "\n")


def finish(path: Path) -> None:
    info = json.loads((path / "run.json").read_text())
    info.update(status="COMPLETED", ended=time.time())
    (path / "run.json").write_text(json.dumps(info))


def test_it_rewrites_on_change_and_stops_when_the_run_ends(tmp_path: Path) -> None:
    run = live_run(tmp_path / "run")
    writes: list[tuple[int, bool, str]] = []
    looks = iter(
        [
            lambda: None,  # nothing changed: no write
            lambda: append(run, 2, 0.5, accuracy=0.7),
            lambda: finish(run),
        ]
    )

    def written(page: Path, generation: int, live: bool) -> None:
        writes.append((generation, live, page.read_text()))

    def sleep(seconds: float) -> None:
        assert seconds == 0.5
        next(looks)()

    page = watch_report([run], interval=0.5, written=written, sleep=sleep)
    assert page == run / "report" / "index.html"
    assert [(g, live) for g, live, _ in writes] == [(1, True), (2, True), (3, False)]
    first, second, last = (html for _, _, html in writes)
    assert '<meta http-equiv="refresh" content="1">' in first and 'id="accuracy"' not in first
    assert 'id="accuracy"' in second and 'data-generation="2"' in second
    assert "http-equiv" not in last and "final: the page does not reload" in last


def test_a_bad_interval_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = live_run(tmp_path / "run")
    with pytest.raises(ConfigError, match="--interval must be > 0"):
        watch_report([run], interval=0)
    assert main(["report", "--watch", str(run), "--interval", "-1"]) == 2
    assert "--interval must be > 0, got -1.0" in capsys.readouterr().err
    assert not (run / "report").exists()  # refused before anything was written


class Lines:
    """A subprocess's stdout read line by line on a thread, waited for with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout
        self.thread = threading.Thread(target=lambda: [self.lines.put(x) for x in stream])
        self.thread.start()

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout} s")


def start_watch(run: Path) -> tuple[subprocess.Popen[str], Lines]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "unitrain", "report", "--watch", str(run)]
    process = subprocess.Popen(
        [*command, "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=run.parent,
    )
    return process, Lines(process)


def stop(process: subprocess.Popen[str], lines: Lines) -> None:
    """Kill the watch if a check failed first; close its pipe either way."""
    if process.poll() is None:
        process.kill()
    process.wait()
    lines.thread.join(timeout=30)  # the reader has seen the end of the output
    assert process.stdout is not None
    process.stdout.close()


def test_a_real_watch_regenerates_the_page_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    run = live_run(tmp_path / "run")
    page = run / "report" / "index.html"
    process, lines = start_watch(run)
    try:
        assert lines.wait_for("(#1, live") == f"report: {page} (#1, live, reloads itself)\n"
        assert 'http-equiv="refresh"' in page.read_text()
        append(run, 2, 0.6, accuracy=0.5)
        lines.wait_for("(#2, live")
        assert 'id="accuracy"' in page.read_text()  # the new metric's figure is on the page
        (run / "metrics.jsonl").write_text("")  # rewritten (a resume that truncates)
        lines.wait_for("(#3, live")
        assert "no metrics records to plot" in page.read_text()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        lines.wait_for("watch stopped")
    finally:
        stop(process, lines)
    assert not list((run / "report").glob(".*tmp*"))  # no half-written file left behind


def test_a_real_watch_ends_by_itself_when_the_run_completes(tmp_path: Path) -> None:
    run = live_run(tmp_path / "run")
    process, lines = start_watch(run)
    try:
        lines.wait_for("(#1, live")
        finish(run)
        assert process.wait(timeout=60) == 0
        lines.wait_for("(#2, final, the runs have ended)")
    finally:
        stop(process, lines)
    assert "http-equiv" not in (run / "report" / "index.html").read_text()


def test_a_watch_follows_a_real_training_process_to_its_end(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = Path(__file__).with_name("slow_fit_script.py")
    fit = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), "60", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("slow/*/run.json")) and time.monotonic() < deadline:
            assert fit.poll() is None, fit.communicate()[1]
            time.sleep(0.1)
        (run,) = (p.parent for p in tmp_path.glob("slow/*/run.json"))
        process, lines = start_watch(run)
        try:
            assert "live" in lines.wait_for("(#1, ")  # RUNNING and its lock is held
            (tmp_path / "go").touch()  # the fit goes on
            lines.wait_for("(#2, live")  # rewritten as the training process logs
            assert process.wait(timeout=120) == 0  # it ends by itself with the run
            lines.wait_for(", final, the runs have ended)")
        finally:
            stop(process, lines)
        assert fit.wait(timeout=60) == 0
    finally:
        if fit.poll() is None:
            fit.kill()
        fit.communicate()
    html = (run / "report" / "index.html").read_text()
    assert "COMPLETED" in html and "http-equiv" not in html
    assert 'id="loss"' in html and "<th>val/loss</th>" in html
