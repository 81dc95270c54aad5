"""SIGTERM / SIGINT: the step finishes, a checkpoint commits, exit 143 / 130, handlers chained."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.runs.trainkit import BATCH, SAMPLES, assert_same, make_data, make_trainer, snapshot
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import MANIFEST, list_checkpoints
from unitrain.runs.signals import Preempted, SignalCatcher
from unitrain.runs.store import RunDir

ROOT = Path(__file__).resolve().parents[2]


def test_catcher_records_chains_and_restores() -> None:
    calls: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGTERM, previous)
    try:
        catcher = SignalCatcher()
        assert catcher.install() and catcher.installed
        os.kill(os.getpid(), signal.SIGTERM)
        assert catcher.received == signal.SIGTERM and calls == [signal.SIGTERM]
        catcher.restore()
        assert signal.getsignal(signal.SIGTERM) is previous
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, original)


def test_second_sigint_stops_at_once() -> None:
    catcher = SignalCatcher()
    catcher.install()
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the first is deferred (default handler not run)
        assert catcher.received == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert not catcher.installed
    finally:
        catcher.restore()


class SignalAt:
    """Sends ``signum`` to this process inside the training step of ``micro_step``."""

    def __init__(self, micro_step: int, signum: int) -> None:
        self.micro_step, self.signum = micro_step, signum
        self.steps_after = 0

    def on_after_backward(self, state: Any) -> None:
        if state.micro_step == self.micro_step:
            os.kill(os.getpid(), self.signum)
        elif state.micro_step > self.micro_step:
            self.steps_after += 1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_in_a_step_commits_and_exits(tmp_path: Path, signum: int, code: int) -> None:
    # scenario 5 in-process: the step finishes, checkpoint, status INTERRUPTED, exit code
    calls: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda s, f: calls.append(s))
    try:
        before = signal.getsignal(signal.SIGTERM)
        signaller = SignalAt(4, signum)
        trainer = make_trainer(
            [RunStore(tmp_path), Checkpoint(every_n_epochs=None, save_last=False), signaller]
        )
        with pytest.raises(Preempted) as info:
            trainer.fit(make_data(), eval_data=make_data())
        assert info.value.code == code
        assert signal.getsignal(signal.SIGTERM) is before  # restored
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert calls == ([signal.SIGTERM] if signum == signal.SIGTERM else [])  # chained
    finally:
        signal.signal(signal.SIGTERM, original)
    assert trainer.state.micro_step == 4 and signaller.steps_after == 0  # step 4 finished
    run = next((tmp_path / "default").iterdir())
    (only,) = list_checkpoints(run / "checkpoints")
    manifest = json.loads((only / MANIFEST).read_text())
    assert manifest["trigger"] == "signal" and manifest["position"]["global_step"] == 4
    info_json = RunDir.open(run).info()
    assert info_json["status"] == "INTERRUPTED" and "Preempted" in info_json["error"]


def test_sigterm_to_a_subprocess_then_exact_resume(tmp_path: Path) -> None:
    # scenario 5 for real: another process, a real SIGTERM, exit status 143, exact resume here
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.runs.sigterm_script", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "step 8":
            child.send_signal(signal.SIGTERM)
            break
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 143, stderr
    assert (tmp_path / "user-handler-ran").read_text() == str(int(signal.SIGTERM))
    assert not (tmp_path / "fit-returned").exists()
    run = next((tmp_path / "default").iterdir())
    info = RunDir.open(run).info()
    assert info["status"] == "INTERRUPTED"
    (saved,) = list_checkpoints(run / "checkpoints")
    step = json.loads((saved / MANIFEST).read_text())["position"]["global_step"]
    assert step >= 8  # the step running when the signal came finished first

    epochs = 3
    plugins = [RunStore(tmp_path, log_every_n_steps=1), Checkpoint()]
    resumed = make_trainer(plugins, init_seed=9, max_epochs=epochs)
    resumed.fit(make_data(), eval_data=make_data(), resume="latest")
    straight = make_trainer(max_epochs=epochs)
    straight.fit(make_data(), eval_data=make_data())
    assert_same(snapshot(straight), snapshot(resumed))
    info = RunDir.open(run).info()
    assert info["status"] == "COMPLETED" and info["restarts"] == 1
    records = [json.loads(x) for x in run.joinpath("metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    assert train_steps == list(range(1, epochs * SAMPLES // BATCH + 1))  # each exactly once
    assert [r["epoch"] for r in records if r["split"] == "val"] == list(range(epochs))
