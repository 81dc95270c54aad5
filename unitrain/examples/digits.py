"""Train a small classifier on the 8×8 handwritten digits that ship with unitrain.

    unitrain demo                       # 30 epochs, ~0.98 test accuracy
    unitrain demo --epochs 5 --out /tmp/digits

Each run writes into its own folder (default ``runs/digits/<YYYYmmdd-HHMMSS>``):
``metrics.jsonl`` (every logged value) and ``result.json`` (the final test metrics). Exits
non-zero if the test accuracy is below ``--target``. The code and the data are part of the
installed package (``examples/digits/train.py`` in the repository runs this module).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.datasets import load_digits
from unitrain.plugins import LRScheduler, MetricsLog, ProgressBar

__all__ = ["main", "make_data", "make_loaders", "make_model", "make_task"]


Loaders = tuple["DataLoader[Any]", "DataLoader[Any]", "DataLoader[Any]"]


def make_loaders(batch_size: int, seed: int) -> Loaders:
    """Shuffle once with ``seed``, then split 1257 train / 180 validation / 360 test."""
    images, labels = load_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images, labels = images[order], labels[order]
    parts = {"train": slice(0, 1257), "val": slice(1257, 1437), "test": slice(1437, None)}
    sets = {name: TensorDataset(images[part], labels[part]) for name, part in parts.items()}
    shuffle = torch.Generator().manual_seed(seed + 1)
    return (
        DataLoader(sets["train"], batch_size=batch_size, shuffle=True, generator=shuffle),
        DataLoader(sets["val"], batch_size=256),
        DataLoader(sets["test"], batch_size=256),
    )


def make_data(batch_size: int = 64, seed: int = 0) -> dict[str, object]:
    """The data for ``unitrain fit examples/digits/run.toml``: train, eval splits, predict."""
    train, val, test = make_loaders(batch_size, seed)
    return {"train": train, "eval": {"val": val, "test": test}, "predict": test}


def make_task(lr: float = 3e-3, compile: bool | dict[str, Any] = False) -> ut.Task:
    """The classifier with its loss, metric and optimizer (also used by the config file:
    ``--set task_options.compile=true`` compiles the model, see ``Task(compile=...)``)."""
    return ut.Task(
        make_model(),
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=1e-4),
        compile=compile,
    )


def make_model() -> nn.Module:
    """Two hidden layers of 128 with dropout."""
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """The demo's command line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="unitrain demo", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: runs/digits/<timestamp>)"
    )
    parser.add_argument("--target", type=float, default=0.95, help="required test accuracy")
    parser.add_argument("--plain", action="store_true", help="plain log lines, no bars")
    args = parser.parse_args(argv)
    # A folder per run, so a second run never appends to the first one's metrics.
    out: Path = args.out or Path("runs", "digits", time.strftime("%Y%m%d-%H%M%S"))

    torch.manual_seed(args.seed)
    train, val, test = make_loaders(args.batch_size, args.seed)
    task = make_task(args.lr)
    trainer = ut.Trainer(
        task,
        max_epochs=args.epochs,
        device="cpu",
        plugins=[
            ProgressBar(plain=True if args.plain else None),
            MetricsLog(out / "metrics.jsonl", every_n_steps=10),
            LRScheduler(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)),
        ],
    )
    trainer.fit(train, eval_data={"val": val})
    result = trainer.evaluate(test, split="test")
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"test accuracy {result['accuracy']:.4f} (target {args.target}), written to {out}")
    return 0 if result["accuracy"] >= args.target else 1
