"""The digits classifier on 2 CPU processes (DDP over gloo), checked against 1 process.

``Trainer(..., devices="cpu:2")`` starts two processes on a free port, splits the data
between them, all-reduces the gradients and brings rank 0's model and metrics back. With
the same *global* batch (64 in one process = 32 per process × 2) and unshuffled data, both
runs see the same samples per optimizer step, so they end with the same weights (up to
float32 rounding: the gradient mean is summed in another order) and the same accuracy.

    python examples/distributed/train.py                 # 10 epochs, both runs
    python examples/distributed/train.py --epochs 2 --start-method fork

Pickling rules for ``devices=`` (see docs/distributed.md): the task, data and plugins
travel to the processes by pickle, so everything is built from module-level functions,
the optimizer is a ``functools.partial`` (not a lambda), and the script runs under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.datasets import load_digits
from unitrain.distributed import DDPStrategy

TRAIN = 1280  # a multiple of the global batch: no padded or partial last batch


def make_data(batch_size: int, seed: int = 0) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """``TRAIN`` shuffled-once digits for training (not reshuffled per epoch, so one and
    two processes see the same samples per step), the remaining 517 for testing."""
    images, labels = load_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images, labels = images[order], labels[order]
    train = TensorDataset(images[:TRAIN], labels[:TRAIN])
    test = TensorDataset(images[TRAIN:], labels[TRAIN:])
    return DataLoader(train, batch_size=batch_size), DataLoader(test, batch_size=256)


def make_task(seed: int = 0) -> ut.Task:
    """A small MLP; the same initial weights in every run with the same ``seed``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    return ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=partial(torch.optim.Adam, lr=3e-3),  # a lambda would not pickle
    )


def train(
    processes: int, epochs: int, global_batch: int = 64, start_method: str = "spawn"
) -> tuple[nn.Module, dict[str, float], float]:
    """Fit on ``processes`` CPU processes; returns the model, the test metrics (evaluated
    in the same processes after every epoch) and the wall time in seconds."""
    if global_batch % processes:
        raise SystemExit(f"--global-batch {global_batch} is not divisible by {processes}")
    train_data, test_data = make_data(global_batch // processes)
    if processes == 1:
        trainer = ut.Trainer(make_task(), max_epochs=epochs, device="cpu")
    else:
        trainer = ut.Trainer(
            make_task(),
            max_epochs=epochs,
            devices=f"cpu:{processes}",
            strategy=DDPStrategy(start_method=start_method),
        )
    started = time.perf_counter()
    trainer.fit(train_data, eval_data={"test": test_data})
    seconds = time.perf_counter() - started
    assert trainer.state.model is not None  # rank 0's trained model, loaded back here
    return trainer.state.model, dict(trainer.state.eval_metrics["test"]), seconds


def max_weight_difference(one: nn.Module, other: nn.Module) -> float:
    """The largest absolute difference between two models' parameters."""
    pairs = zip(one.state_dict().values(), other.state_dict().values(), strict=True)
    return max(float((a - b).abs().max()) for a, b in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="2 CPU processes vs 1, same global batch")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--start-method", choices=("spawn", "fork"), default="spawn")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max weight difference")
    parser.add_argument("--target", type=float, default=0.9, help="required test accuracy")
    args = parser.parse_args(argv)

    model1, metrics1, seconds1 = train(1, args.epochs, args.global_batch)
    print(f"1 process : test accuracy {metrics1['accuracy']:.4f}, loss "
          f"{metrics1['loss']:.4f} ({seconds1:.1f} s)")  # fmt: skip
    model2, metrics2, seconds2 = train(2, args.epochs, args.global_batch, args.start_method)
    print(f"2 processes: test accuracy {metrics2['accuracy']:.4f}, loss "
          f"{metrics2['loss']:.4f} ({seconds2:.1f} s, process start included)")  # fmt: skip
    difference = max_weight_difference(model1, model2)
    print(f"largest weight difference: {difference:.2e} (tolerance {args.tolerance:g})")
    same = difference <= args.tolerance and metrics1["accuracy"] == metrics2["accuracy"]
    print("the two runs agree" if same else "the two runs DIFFER")
    return 0 if same and metrics2["accuracy"] >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
