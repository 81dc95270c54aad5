"""SIGKILL at random points, during training and during checkpoint writes (scenarios 3, 4, 20).

Each trial forks a child (cheap: torch is already imported) that runs ``fit(resume="latest")``
and is killed with SIGKILL, either by this process after a random delay or by itself in the
middle of writing a checkpoint's manifest. After the trials a last child runs to the end.
Whatever the kill points, the final weights equal an uninterrupted run's and metrics.jsonl
holds every step exactly once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import torch

import unitrain.runs.checkpoint as ckpt
from tests.runs.trainkit import BATCH, SAMPLES, assert_same, make_data, make_trainer, snapshot
from unitrain.errors import UnitrainWarning
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint, newest_valid

EPOCHS = 10
STEPS = EPOCHS * SAMPLES // BATCH


class Pace:
    """Slows each step a little, so a random kill lands inside the run."""

    def on_train_step_end(self) -> None:
        time.sleep(0.01)


def _child(root: str, kill_at_write: int | None) -> None:
    # A forked child must not use the OpenMP pool its parent started: GNU OpenMP is not
    # fork-safe, and its first parallel kernel can then wait forever. One thread needs no pool.
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if kill_at_write is not None:
        real = ckpt._write_bytes
        count = [0]

        def dying_write(path: Path, data: bytes) -> None:
            count[0] += path.name == ckpt.MANIFEST
            if count[0] == kill_at_write and path.name == ckpt.MANIFEST:
                path.write_bytes(data[: len(data) // 2])  # half a manifest, then death
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)

        ckpt._write_bytes = dying_write
    plugins = [
        RunStore(root, log_every_n_steps=1),
        Checkpoint(every_n_steps=2, keep_last=2),
        Pace(),
    ]
    trainer = make_trainer(plugins, accumulation=2, max_epochs=EPOCHS)
    trainer.fit(make_data(True), eval_data=make_data(), resume="latest")


def _launch(root: Path, kill_at_write: int | None) -> Any:
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(str(root), kill_at_write)
    )
    process.start()
    return process


TRIALS = 20


def test_random_sigkills_never_lose_anything(tmp_path: Path) -> None:
    trials = TRIALS
    # the reference first: it also makes the children start warm (torch fully imported)
    straight = make_trainer(accumulation=2, max_epochs=EPOCHS)
    straight.fit(make_data(True), eval_data=make_data())
    rng = random.Random(trials)
    exit_codes = []
    for trial in range(trials):
        if trial % 2:  # killed by itself while writing a manifest (the 1st to 3rd it writes)
            process = _launch(tmp_path, kill_at_write=rng.randint(1, 3))
            process.join(timeout=120)
        else:  # killed from outside at a random time
            process = _launch(tmp_path, kill_at_write=None)
            process.join(timeout=rng.uniform(0.02, 0.3))
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGKILL)
                process.join(timeout=60)
        exit_codes.append(process.exitcode)
    assert all(code in (0, -signal.SIGKILL) for code in exit_codes), exit_codes
    assert exit_codes[1::2].count(-signal.SIGKILL) >= 1  # some died mid-write
    assert exit_codes[0::2].count(-signal.SIGKILL) >= 1  # some were killed from outside
    print("exit codes", exit_codes)
    final = _launch(tmp_path, kill_at_write=None)
    final.join(timeout=300)
    assert final.exitcode == 0

    runs = sorted((tmp_path / "default").iterdir())
    run = max(runs, key=lambda p: json.loads((p / "run.json").read_text())["created"])
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "COMPLETED"
    assert 1 <= info["restarts"] + len(runs) - 1 <= trials
    newest, skipped = newest_valid(run / "checkpoints")
    assert newest is not None and skipped == []
    saved = load_checkpoint(newest)["state"]
    restored = make_trainer(accumulation=2, max_epochs=EPOCHS, init_seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitrainWarning)  # run_store / checkpoint not registered
        restored.load_state_dict(saved)
    assert_same(snapshot(straight), snapshot(restored))
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(1, STEPS // 2 + 1))
    assert not [p for p in (run / "checkpoints").iterdir() if ".tmp-" in p.name]
    assert len(list_checkpoints(run / "checkpoints")) <= 3
