"""Kill a training run mid-way, resume it, and get the uninterrupted run's weights bit for bit.

1. trains the digits classifier once without interruption (the reference);
2. starts the same training in a child process with the ``RunStore`` and ``Checkpoint``
   plugins (a checkpoint every 10 optimizer steps) and kills it with SIGKILL once it has
   logged ``--kill-at-step`` steps (``--signal term`` sends SIGTERM instead: the step
   finishes, a checkpoint commits and the child exits with 143);
3. resumes here with ``fit(resume="latest")``, which finds the newest checkpoint that
   verifies and reopens the killed run;
4. compares every weight with the reference (``torch.equal``) and checks that the run's
   ``metrics.jsonl`` holds every training step exactly once.

Shuffling, dropout, AdamW and a learning-rate schedule are all on: the checkpoint restores
the random streams and the data order, which is what makes the resume exact.

    python examples/resume_after_kill/train.py                  # 4 epochs, kill at step 30
    python examples/resume_after_kill/train.py --signal term --root runs/resume
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.datasets import load_digits
from unitrain.plugins import Checkpoint, RunStore

EXPERIMENT = "resume-after-kill"
BATCH = 64
TRAIN = 1280  # 20 batches per epoch


def make_data(seed: int = 0) -> DataLoader[Any]:
    """``TRAIN`` digits, reshuffled every epoch by a seeded generator."""
    images, labels = load_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train = TensorDataset(images[order[:TRAIN]], labels[order[:TRAIN]])
    return DataLoader(
        train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed + 1)
    )


def make_trainer(epochs: int, plugins: list[object], seed: int = 0) -> ut.Trainer:
    """The classifier (with dropout) and its trainer; the same start for every run."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10),
    )  # fmt: skip
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.AdamW(params, lr=3e-3),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7),
    )
    return ut.Trainer(task, plugins=plugins, max_epochs=epochs, device="cpu")


def run_plugins(root: Path) -> list[object]:
    """What makes a run resumable: a run folder and checkpoints every 10 steps."""
    return [RunStore(root, EXPERIMENT, log_every_n_steps=1), Checkpoint(every_n_steps=10)]


class Pace:
    """Slows each step of the child a little, so the kill lands inside the run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_step_end(self) -> None:
        time.sleep(self.seconds)


def worker(root: Path, epochs: int, pace: float) -> int:
    """The run that gets killed (the child process)."""
    trainer = make_trainer(epochs, [*run_plugins(root), Pace(pace)])
    trainer.fit(make_data(), resume="latest")
    return 0


def logged_steps(root: Path) -> list[int]:
    """The training steps in the run's metrics.jsonl (a torn last line is skipped)."""
    steps = []
    for log in (root / EXPERIMENT).glob("*/metrics.jsonl"):
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("split") == "train":
                steps.append(int(record["step"]))
    return steps


def start_and_kill(root: Path, epochs: int, kill_at: int, signum: int, pace: float) -> int:
    """Start the child, send ``signum`` once it has logged ``kill_at`` steps; its exit code."""
    command = [sys.executable, __file__, "--worker", "--root", str(root), "--epochs", str(epochs)]
    # the same number of threads as here: a kernel may sum in another order with another count
    threads = ["--threads", str(torch.get_num_threads())]
    child = subprocess.Popen([*command, "--pace", str(pace), *threads])
    while child.poll() is None and len(logged_steps(root)) < kill_at:
        time.sleep(0.02)
    if child.poll() is not None:
        raise SystemExit(f"the child ended (exit {child.returncode}) before step {kill_at}")
    os.kill(child.pid, signum)
    return child.wait(timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="resume after kill, bit for bit")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--kill-at-step", type=int, default=30)
    parser.add_argument("--signal", choices=("kill", "term"), default="kill")
    parser.add_argument("--root", type=Path, help="runs folder (default: a new temporary one)")
    parser.add_argument("--pace", type=float, default=0.05, help="child's sleep per step (s)")
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args.root, args.epochs, args.pace)
    root = Path(tempfile.mkdtemp(prefix="unitrain-resume-")) if args.root is None else args.root
    if (root / EXPERIMENT).exists():
        raise SystemExit(f"{root / EXPERIMENT} exists already: pass a new --root")
    total = args.epochs * TRAIN // BATCH
    if not 10 < args.kill_at_step < total:
        raise SystemExit(f"--kill-at-step must be between 11 and {total - 1} (the run has "
                         f"{total} steps and checkpoints every 10)")  # fmt: skip

    started = time.perf_counter()
    reference = make_trainer(args.epochs, [])
    reference.fit(make_data())
    print(f"uninterrupted run: {total} steps in {time.perf_counter() - started:.1f} s")

    signum = signal.SIGKILL if args.signal == "kill" else signal.SIGTERM
    code = start_and_kill(root, args.epochs, args.kill_at_step, signum, args.pace)
    print(f"child sent {signum.name} after {len(logged_steps(root))} logged steps: exit {code}")

    resumed = make_trainer(args.epochs, run_plugins(root))
    resumed.fit(make_data(), resume="latest")
    run = next((root / EXPERIMENT).iterdir())
    info = json.loads((run / "run.json").read_text())
    print(f"resumed in {run}: status {info['status']}, restarts {info['restarts']}")

    assert reference.state.model is not None and resumed.state.model is not None
    expected = reference.state.model.state_dict()
    got = resumed.state.model.state_dict()
    same = all(torch.equal(expected[name], got[name]) for name in expected)
    steps = logged_steps(root)
    once = sorted(steps) == list(range(1, total + 1))
    print(f"weights equal the uninterrupted run's, bit for bit: {same}")
    print(f"metrics.jsonl holds each of the {total} steps exactly once: {once}")
    return 0 if same and once else 1


if __name__ == "__main__":
    sys.exit(main())
