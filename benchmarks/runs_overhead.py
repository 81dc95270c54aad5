"""Cost of the run store and checkpoint plugins.

1. Per-step overhead of ``RunStore(log_every_n_steps=None)`` + ``Checkpoint(every_n_epochs=
   None, save_last=False)`` (registered, listening, never saving) on a tiny MLP, against the
   bare trainer: marginal CPU time per step between 1 and 3 epochs, median of interleaved
   repeats (one thread).
2. Wall time of one committed checkpoint (temporary folder, fsync, sha256 manifest, rename,
   ``latest``) for an MLP of about ``--params`` parameters, and of verifying + loading it.

Run: ``OMP_NUM_THREADS=1 python benchmarks/runs_overhead.py`` (``--help`` for sizes;
``--smoke``: tiny sizes and one repeat, for CI).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

import unitrain as ut
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import load_checkpoint, write_checkpoint


def _fit_time(plugins: list[object], batches: list[tuple[torch.Tensor, ...]], epochs: int) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.01),
    )
    trainer = ut.Trainer(task, plugins=plugins, max_epochs=epochs, device="cpu")
    start = time.process_time()  # CPU time: a shared, loaded machine skews wall time
    trainer.fit(batches)
    return time.process_time() - start


def per_step_overhead(steps: int, repeats: int, root: Path) -> tuple[float, float]:
    x, y = torch.randn(steps * 8, 32), torch.randint(0, 4, (steps * 8,))
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, len(x), 8)]
    bare, with_plugins = [], []
    for _ in range(repeats):
        for target, make in (
            (bare, list),
            (
                with_plugins,
                lambda: [
                    RunStore(root, log_every_n_steps=None),
                    Checkpoint(every_n_epochs=None, save_last=False),
                ],
            ),
        ):
            t1 = _fit_time(make(), batches, 1)
            t3 = _fit_time(make(), batches, 3)
            target.append((t3 - t1) / (2 * steps) * 1e6)
    return statistics.median(bare), statistics.median(with_plugins)


def checkpoint_times(params: int, repeats: int, root: Path) -> tuple[float, float, int]:
    width = max(8, int((params / 2) ** 0.5))
    model = nn.Sequential(nn.Linear(width, width), nn.Linear(width, width))
    state = {"model": model.state_dict()}
    writes, loads = [], []
    for index in range(repeats):
        start = time.perf_counter()
        path = write_checkpoint(root, f"step-{index:09d}", {"state.pt": state}, meta={})
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        load_checkpoint(path)
        loads.append(time.perf_counter() - start)
    size = sum(p.numel() for p in model.parameters())
    return statistics.median(writes) * 1e3, statistics.median(loads) * 1e3, size


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.params = 4, 1, 20_000
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        bare, plugged = per_step_overhead(args.steps, args.repeats, Path(tmp) / "runs")
        write_ms, load_ms, size = checkpoint_times(args.params, 3, Path(tmp) / "ckpt")
    print(f"per_step_us_bare {bare:.1f}")
    print(f"per_step_us_run_store_and_checkpoint {plugged:.1f}")
    print(f"per_step_overhead_us {plugged - bare:.1f}")
    print(f"checkpoint_params {size}")
    print(f"checkpoint_write_ms {write_ms:.1f}")
    print(f"checkpoint_verify_and_load_ms {load_ms:.1f}")


if __name__ == "__main__":
    main()
