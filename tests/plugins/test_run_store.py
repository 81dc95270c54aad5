"""The run store plugin: run.json status, metrics.jsonl, and what a failure leaves behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.runs.trainkit import BATCH, SAMPLES, make_data, make_trainer
from unitrain.errors import BatchError, ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.store import RunDir

BATCHES = SAMPLES // BATCH


def _run(root: Path) -> RunDir:
    (path,) = (root / "default").iterdir()
    return RunDir.open(path)


def test_a_completed_fit_records_everything(tmp_path: Path) -> None:
    store = RunStore(tmp_path, log_every_n_steps=2, monitor="accuracy", mode="max", config={"a": 1})
    make_trainer([store], max_epochs=2).fit(make_data(), eval_data={"val": make_data()})
    run = _run(tmp_path)
    info = run.info()
    assert info["status"] == "COMPLETED" and info["config"] == {"a": 1}
    assert info["global_step"] == 2 * BATCHES and info["ended"] >= info["started"]
    assert info["best"]["name"] == "val/accuracy" and info["best"]["value"] == store.best
    records = run.read_metrics()
    assert [r["step"] for r in records if r["split"] == "train"] == [2, 4, 6, 8, 10, 12]
    assert [(r["epoch"], r["step"]) for r in records if r["split"] == "val"] == [(0, 6), (1, 12)]
    assert {"loss", "accuracy"} <= set(records[-1])


class Boom:
    """Raises in one hook at one micro step; counts the on_exception calls it sees."""

    def __init__(self, hook: str, micro_step: int = 3) -> None:
        self.hook, self.micro_step, self.seen = hook, micro_step, 0

        def fail(state: Any, *args: Any) -> None:
            if state.micro_step >= self.micro_step:
                raise RuntimeError(f"boom in {hook}")

        setattr(self, hook, fail)

    def on_exception(self) -> None:
        self.seen += 1


@pytest.mark.parametrize(
    "hook", ["on_train_step_start", "on_after_backward", "on_train_step_end", "on_eval_step_end"]
)
def test_a_plugin_raising_mid_step_leaves_the_run_failed(tmp_path: Path, hook: str) -> None:
    # scenario 9: error reaches the caller naming plugin and hook; other plugins' on_exception
    # ran; metrics up to the failure are on disk; run.json FAILED; signal handlers restored
    before = signal.getsignal(signal.SIGTERM)
    boom, other = Boom(hook), Boom("on_fit_end")
    store = RunStore(tmp_path, log_every_n_steps=1)
    trainer = make_trainer([store, Checkpoint(), boom, other], eval_every_steps=1)
    with pytest.raises(RuntimeError, match=f"boom in {hook}") as info:
        trainer.fit(make_data(), eval_data=make_data())
    notes = "\n".join(info.value.__notes__)
    assert f"plugin 'boom' in hook '{hook}'" in notes
    assert boom.seen == 1 and other.seen == 1
    run = _run(tmp_path)
    status = run.info()
    assert status["status"] == "FAILED" and f"boom in {hook}" in status["error"]
    steps = [r["step"] for r in run.read_metrics() if r["split"] == "train"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2
    assert signal.getsignal(signal.SIGTERM) is before
    assert store.writer is not None and store.writer._file is None  # closed, flushed


class FailingOnException:
    def on_train_step_start(self, state: Any) -> None:
        if state.micro_step == 2:
            raise ValueError("original")

    def on_exception(self) -> None:
        raise RuntimeError("secondary")


def test_a_plugin_raising_in_on_exception_keeps_the_original_error(tmp_path: Path) -> None:
    # scenario 10: the original error stays primary, the run store still records it
    with pytest.raises(ValueError, match="original"):
        make_trainer([RunStore(tmp_path), FailingOnException()]).fit(make_data())
    assert _run(tmp_path).info()["error"] == "ValueError: original"


def test_invalid_settings_create_nothing_on_disk(tmp_path: Path) -> None:
    # scenario 13: every problem at once, no run directory
    from unitrain.tasks import Task
    from unitrain.trainer import Trainer

    task = Task(torch.nn.Linear(4, 2), loss=torch.nn.CrossEntropyLoss())
    with pytest.raises(ConfigError) as info:
        Trainer(task, plugins=[RunStore(tmp_path)], max_epochs=0, accumulation=0)
    assert "max_epochs" in str(info.value) and "accumulation" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_batch_fails_before_any_step(tmp_path: Path) -> None:
    # scenario 14: the first offending batch, no optimizer step taken, run FAILED
    trainer = make_trainer([RunStore(tmp_path), Checkpoint()])
    assert trainer.state.model is not None
    before = [p.detach().clone() for p in trainer.state.model.parameters()]
    bad = [(torch.randn(4, 4), torch.zeros(3, dtype=torch.long))]
    with pytest.raises((BatchError, ValueError, RuntimeError)):
        trainer.fit(bad)
    after = list(trainer.state.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert _run(tmp_path).info()["status"] == "FAILED"


class OutOfMemoryAt:
    def run_forward(self, state: Any) -> None:
        if state.micro_step == 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")


def test_out_of_memory_gives_a_clean_error_and_a_committed_checkpoint(tmp_path: Path) -> None:
    # scenario 17 (CPU-simulated): the forward fails before backward, so the state is whole
    trainer = make_trainer([RunStore(tmp_path), Checkpoint(every_n_epochs=None), OutOfMemoryAt()])
    with pytest.raises(torch.cuda.OutOfMemoryError):
        trainer.fit(make_data())
    run = _run(tmp_path)
    (saved,) = sorted(run.checkpoints.glob("step-*"))
    manifest = json.loads((saved / "MANIFEST.json").read_text())
    assert manifest["trigger"] == "exception" and manifest["position"]["batches_done"] == 4
    assert run.info()["status"] == "FAILED" and "OutOfMemoryError" in run.info()["error"]


class Misspelt:
    def on_train_stpe_end(self) -> None:
        pass


def test_a_plugin_with_a_misspelt_hook_fails_before_a_run_exists(tmp_path: Path) -> None:
    # scenario 12: rejected at registration, before any run directory is made
    from unitrain.errors import PluginError

    with pytest.raises(PluginError, match="on_train_stpe_end"):
        make_trainer([RunStore(tmp_path), Checkpoint(), Misspelt()])
    assert list(tmp_path.iterdir()) == []
