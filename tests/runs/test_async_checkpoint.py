"""Checkpoint(async_save=True): a CPU snapshot on the training thread, the write in the background.

Same protocol, manifest and guarantees as a synchronous save: exact resume, one write at a
time (a second save waits), prune and ``latest`` only after the commit, errors raised on the
training thread naming the checkpoint, the fit's end / exceptions / SIGTERM wait for the
write, and a real SIGKILL during a background write exposes no partial checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict, namedtuple
from pathlib import Path
from typing import Any

import pytest
import torch

import unitrain.plugins.checkpoint as plugin_module
from tests.runs.trainkit import (
    BATCH,
    SAMPLES,
    Crash,
    CrashAt,
    assert_same,
    make_data,
    make_trainer,
    snapshot,
)
from unitrain.errors import CheckpointError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.runs.async_writer import BackgroundWriter, snapshot_to_cpu
from unitrain.runs.checkpoint import (
    MANIFEST,
    list_checkpoints,
    load_checkpoint,
    read_latest,
    verify_checkpoint,
    write_checkpoint,
)
from unitrain.runs.signals import Preempted

EPOCHS = 3
TOTAL = EPOCHS * SAMPLES // BATCH
Pair = namedtuple("Pair", "a b")


def _straight(accumulation: int = 2) -> dict[str, Any]:
    trainer = make_trainer(accumulation=accumulation, max_epochs=EPOCHS)
    trainer.fit(make_data(True), eval_data=make_data())
    return snapshot(trainer)


class SlowWrite:
    """Wraps write_checkpoint in the plugin module: slow, and records when each one ran."""

    def __init__(self, delay: float, fail_at: int | None = None) -> None:
        self.delay, self.fail_at = delay, fail_at
        self.spans: list[tuple[float, float, str, str]] = []  # start, end, name, thread

    def __call__(self, directory: Path, name: str, files: Any, **kwargs: Any) -> Path:
        start = time.monotonic()
        time.sleep(self.delay)
        if self.fail_at is not None and len(self.spans) + 1 == self.fail_at:
            self.spans.append((start, time.monotonic(), name, threading.current_thread().name))
            raise RuntimeError("disk on fire")
        path = write_checkpoint(directory, name, files, **kwargs)
        self.spans.append((start, time.monotonic(), name, threading.current_thread().name))
        return path


# ---------------------------------------------------------------------- the snapshot


def test_snapshot_is_a_deep_cpu_copy_keeping_structure_and_sharing() -> None:
    weight = torch.randn(4, 3)
    state = {
        "model": OrderedDict(w=weight, tied=weight, b=torch.arange(3)),
        "opt": [{"step": torch.tensor(5.0), "lr": 0.1}],
        "pair": Pair(torch.ones(2), (1, "x")),
        "meta": {"names": ["a", "b"]},
    }
    copied = snapshot_to_cpu(state)
    assert type(copied["model"]) is OrderedDict and list(copied["model"]) == ["w", "tied", "b"]
    assert isinstance(copied["pair"], Pair) and copied["pair"].b == (1, "x")
    assert torch.equal(copied["model"]["w"], weight)
    assert copied["model"]["w"] is copied["model"]["tied"]  # tied weights stay tied
    assert copied["model"]["w"].data_ptr() != weight.data_ptr()
    weight.add_(1.0)  # training goes on: the snapshot must not move
    state["opt"][0]["step"].add_(1)
    state["meta"]["names"].append("c")
    assert not torch.equal(copied["model"]["w"], weight)
    assert copied["opt"][0]["step"].item() == 5.0 and copied["meta"]["names"] == ["a", "b"]


def test_snapshot_copies_into_the_previous_snapshot_when_shapes_match() -> None:
    first = {"w": torch.randn(5, 3), "t": torch.randn(2), "n": [torch.zeros(4)], "k": 1}
    first["tied"] = first["w"]
    old = snapshot_to_cpu(first)
    pointers = {key: old[key].data_ptr() for key in ("w", "t")}
    second = {
        "w": torch.randn(5, 3),
        "t": torch.randn(3),  # a new shape: a fresh buffer
        "n": [torch.ones(4)],
        "k": 2,
        "tied": torch.randn(5, 3),  # no longer tied to "w": must not share its buffer
    }
    new = snapshot_to_cpu(second, reuse=old)
    assert new["w"].data_ptr() == pointers["w"]  # copied into the old buffer
    assert new["t"].data_ptr() != pointers["t"] and new["tied"] is not new["w"]
    for key in ("w", "t", "tied"):
        assert torch.equal(new[key], second[key]) and new[key] is not second[key]
    assert torch.equal(new["n"][0], torch.ones(4)) and new["k"] == 2
    second["w"].add_(1.0)
    assert not torch.equal(new["w"], second["w"])


def test_background_writer_runs_one_job_at_a_time_and_raises_at_next_wait() -> None:
    writer = BackgroundWriter()
    running: list[int] = []
    overlaps: list[int] = []

    def job(n: int) -> Any:
        def run() -> None:
            running.append(n)
            overlaps.append(len(running))
            time.sleep(0.05)
            running.remove(n)
            if n == 2:
                raise ValueError("boom")

        return run

    writer.submit(job(1), "/ckpt/one")
    assert writer.busy
    writer.submit(job(2), "/ckpt/two")  # waits for the first
    with pytest.raises(CheckpointError, match=r"/ckpt/two.*ValueError: boom"):
        writer.submit(job(3), "/ckpt/three")  # the error surfaces; job 3 never starts
    assert overlaps == [1, 1]
    writer.wait()  # the error was raised once, not kept
    assert not writer.busy


# ---------------------------------------------------------------------- with a trainer


@pytest.mark.parametrize("accumulation", [1, 2])
def test_resume_from_async_checkpoints_is_bit_exact(tmp_path: Path, accumulation: int) -> None:
    crash_at = TOTAL - 5
    crashing = make_trainer(
        [Checkpoint(tmp_path, every_n_steps=1, async_save=True), CrashAt(crash_at)],
        accumulation=accumulation,
        max_epochs=EPOCHS,
    )
    with pytest.raises(Crash):
        crashing.fit(make_data(True), eval_data=make_data())
    # the boundary's save was still being written when the crash came: it was waited for
    newest = list_checkpoints(tmp_path)[-1]
    verify_checkpoint(newest)
    assert json.loads((newest / MANIFEST).read_text())["position"]["global_step"] == (
        crashing.state.global_step
    )
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    resumed = make_trainer(
        [Checkpoint(tmp_path, every_n_steps=1, async_save=True)],
        accumulation=accumulation,
        max_epochs=EPOCHS,
        init_seed=99,
    )
    torch.manual_seed(4321)
    resumed.fit(make_data(True), eval_data=make_data(), resume="latest")
    assert_same(_straight(accumulation), snapshot(resumed))


def test_second_save_waits_never_interleaves_and_prunes_after_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowWrite(0.05)
    monkeypatch.setattr(plugin_module, "write_checkpoint", slow)
    events: list[tuple[str, str]] = []
    real_remove = plugin_module.remove_checkpoint

    def remove(path: Path) -> None:
        events.append(("remove", path.name))
        real_remove(path)

    monkeypatch.setattr(plugin_module, "remove_checkpoint", remove)
    real_commit = Checkpoint._commit

    def commit(self: Checkpoint, directory: Path, name: str, *args: Any) -> Path:
        path = real_commit(self, directory, name, *args)
        events.append(("committed", name))
        return path

    monkeypatch.setattr(Checkpoint, "_commit", commit)
    real_prune = Checkpoint._prune

    def prune(self: Checkpoint, directory: Path, newest: Path) -> None:
        # prune runs after the commit and after ``latest`` names the new checkpoint
        assert (newest / MANIFEST).is_file() and read_latest(directory) == newest.name
        events.append(("prune", newest.name))
        real_prune(self, directory, newest)

    monkeypatch.setattr(Checkpoint, "_prune", prune)
    saver = Checkpoint(tmp_path, every_n_steps=1, every_n_epochs=None, keep_last=2, async_save=True)
    trainer = make_trainer([saver], max_epochs=1)
    trainer.fit(make_data(), eval_data=make_data())
    names = [name for _, _, name, _ in slow.spans]
    assert names == [f"step-{n:09d}" for n in range(1, SAMPLES // BATCH + 1)]  # all, in order
    assert all(a[1] <= b[0] for a, b in zip(slow.spans, slow.spans[1:], strict=False))
    assert all(thread.startswith("unitrain-checkpoint-writer") for *_, thread in slow.spans)
    committed = [name for kind, name in events if kind == "committed"]
    assert committed == names
    for index, (kind, name) in enumerate(events):
        if kind == "remove":  # only older checkpoints, after a newer one was committed
            assert any(k == "prune" and n > name for k, n in events[:index])
    assert [p.name for p in list_checkpoints(tmp_path)] == names[-2:]
    assert read_latest(tmp_path) == names[-1] and saver.last_saved == tmp_path / names[-1]
    for path in list_checkpoints(tmp_path):
        verify_checkpoint(path)


def test_the_training_thread_does_not_wait_for_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowWrite(1.5)
    monkeypatch.setattr(plugin_module, "write_checkpoint", slow)
    saver = Checkpoint(tmp_path, every_n_epochs=None, save_last=False, async_save=True)
    trainer = make_trainer([saver], max_epochs=1)
    trainer.fit(make_data(), eval_data=make_data())
    start = time.monotonic()
    path = saver.save(trainer.state, "manual")
    returned = time.monotonic() - start
    assert path == tmp_path / f"step-{trainer.state.global_step:09d}"
    assert returned < 1.0 and saver.last_saved is None  # still being written
    saver.wait()
    assert saver.last_saved == path
    verify_checkpoint(path)
    assert torch.equal(
        load_checkpoint(path)["state"]["model"]["0.weight"],
        trainer.state.model.state_dict()["0.weight"],  # type: ignore[union-attr]
    )


@pytest.mark.parametrize("fail_at", [2, 6])  # a middle save, or the last one (at fit end)
def test_background_error_is_raised_on_the_training_thread_naming_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(plugin_module, "write_checkpoint", SlowWrite(0.01, fail_at=fail_at))
    saver = Checkpoint(
        tmp_path, every_n_steps=1, every_n_epochs=None, keep_last=None, async_save=True
    )
    trainer = make_trainer([saver], max_epochs=1)  # saves after steps 1..6 (6: the fit's end)
    with pytest.raises(CheckpointError) as info:
        trainer.fit(make_data(), eval_data=make_data())
    failed = tmp_path / f"step-{fail_at:09d}"
    assert str(failed) in str(info.value) and "disk on fire" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    # raised at the next save (the boundary after the next step), or at the fit's end
    assert trainer.state.global_step == min(fail_at + 1, 6)
    # the failed one is missing; as with a synchronous save, the exception then saves the
    # (clean) state it stopped at, and that one commits
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert failed.name not in names and names[0] == "step-000000001"
    assert names[-1] == f"step-{trainer.state.global_step:09d}" or fail_at == 6
    for path in list_checkpoints(tmp_path):
        verify_checkpoint(path)
    assert saver.lock is None  # released on the way out


def test_sigterm_waits_for_the_write_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin_module, "write_checkpoint", SlowWrite(0.2))

    class Term:
        def on_after_backward(self, state: Any) -> None:
            if state.micro_step == 3:
                os.kill(os.getpid(), signal.SIGTERM)

    saver = Checkpoint(tmp_path, every_n_epochs=None, save_last=False, async_save=True)
    trainer = make_trainer([saver, Term()], max_epochs=1)
    with pytest.raises(Preempted):
        trainer.fit(make_data(), eval_data=make_data())
    (only,) = list_checkpoints(tmp_path)  # committed before fit() returned
    verify_checkpoint(only)
    assert json.loads((only / MANIFEST).read_text())["trigger"] == "signal"
    assert not saver._background.busy and saver.last_saved == only


# ---------------------------------------------------------------------- a real SIGKILL

_CHILD = """
import os, sys, time, warnings
import torch
torch.set_num_threads(1)
warnings.simplefilter("ignore")
import unitrain.runs.checkpoint as ckpt
from tests.runs.trainkit import make_data, make_trainer
from unitrain.plugins.checkpoint import Checkpoint

root, slow = sys.argv[1], sys.argv[2] == "slow"
if slow:  # every manifest write takes a while: a kill lands inside a background write
    real = ckpt._write_bytes
    def slow_write(path, data):
        if path.name == ckpt.MANIFEST:
            time.sleep(0.4)
        real(path, data)
    ckpt._write_bytes = slow_write
trainer = make_trainer(
    [Checkpoint(root, every_n_steps=1, keep_last=2, async_save=True)],
    accumulation=2, max_epochs=3, init_seed=int(sys.argv[3]),
)
trainer.fit(make_data(True), eval_data=make_data(), resume="latest")
torch.save(trainer.state.model.state_dict(), os.path.join(root, "..", "final.pt"))
"""


def _spawn(root: Path, slow: bool, seed: int) -> subprocess.Popen[bytes]:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), "slow" if slow else "fast", str(seed)],
        cwd=repo,
        env=env,
    )


def test_sigkill_during_a_background_write_exposes_nothing_partial(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    root.mkdir()
    child = _spawn(root, slow=True, seed=0)
    kills = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            # a second in-flight write (the first may be the one a resume would use)
            temps = [p for p in root.iterdir() if ".tmp-" in p.name and p.is_dir()]
            if temps and list_checkpoints(root) and (temps[0] / "state.pt").exists():
                child.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
    finally:
        if child.poll() is None and kills == 0:
            child.kill()
        child.wait(timeout=60)
    assert kills == 1 and child.returncode == -signal.SIGKILL
    leftovers = [p.name for p in root.iterdir() if ".tmp-" in p.name]
    assert leftovers  # the kill really landed inside a background write
    committed = list_checkpoints(root)
    assert committed and all(".tmp-" not in p.name for p in committed)
    for path in committed:
        verify_checkpoint(path)  # every visible checkpoint is complete
    assert read_latest(root) in [p.name for p in committed]
    # resume in another process (a different init seed: all must come from the checkpoint)
    resumed = _spawn(root, slow=False, seed=7)
    assert resumed.wait(timeout=300) == 0
    assert not [p for p in root.iterdir() if ".tmp-" in p.name]  # cleaned at the restart
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    straight = _straight(2)["model"]
    assert final.keys() == straight.keys()
    for key, value in straight.items():
        assert torch.equal(value, final[key]), key
