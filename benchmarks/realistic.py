"""A small CNN: unitrain's throughput and peak memory against the hand-written loop.

CPU (always): fp32, one thread, pre-made batches, the marginal-epoch method of ``_common``;
peak memory is each case's peak resident set size, measured in a fresh process per case
(same imports, same model and data), since CPU tensors have no allocator statistics.
CUDA (when a GPU is present, or ``--device cuda``): mixed precision (fp16 + GradScaler, via
unitrain's ``MixedPrecision`` plugin; autocast + scaler by hand in the raw loop),
deterministic kernels, wall time with one synchronize per run, peak memory from
``torch.cuda.max_memory_allocated``. Weights are checked bit for bit in every run.

Final lines: ``throughput_ratio`` (unitrain samples/s ÷ raw; ``throughput_ratio_min`` from
the fastest repeats), ``peak_memory_ratio``
(unitrain ÷ raw), ``device``, ``bit_identical``. Run: ``python benchmarks/realistic.py``
(``--smoke``: tiny sizes and one repeat, for CI). Per precision (fp32, bf16, fp16), with
host syncs per step: ``gpu.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from _common import Batch, Case, base_parser, emit, measure, print_table, single_thread
from _paired import Tick, measure_paired
from torch import nn

import unitrain as ut

LR = 0.05


def small_cnn(seed: int) -> nn.Sequential:
    """Two conv blocks and a linear head for 1×28×28 inputs, built from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


def image_batches(steps: int, batch: int, seed: int, device: torch.device) -> list[Batch]:
    """Pre-made ``(images, labels)`` batches already on ``device``."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(steps * batch, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (steps * batch,), generator=generator)
    return [
        (images[i : i + batch].to(device), labels[i : i + batch].to(device))
        for i in range(0, steps * batch, batch)
    ]


def _optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=LR, momentum=0.9)


def raw_epochs(
    model: nn.Module, batches: Sequence[Batch], device: torch.device
) -> Callable[[], None]:
    """One epoch of the hand-written loop per call (optimizer and scaler persist); with
    CUDA, fp16 autocast and a grad scaler."""
    model.to(device).train()
    optimizer = _optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None

    def epoch() -> None:
        for images, labels in batches:
            images, labels = images.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = loss_fn(model(images), labels)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            optimizer.zero_grad(set_to_none=True)
        _sync(device)

    return epoch


def raw_run(
    model: nn.Module,
    batches: Sequence[Batch],
    epochs: int,
    device: torch.device,
    tick: Tick | None = None,
) -> nn.Module:
    """The hand-written loop for ``epochs`` epochs."""
    epoch = raw_epochs(model, batches, device)
    for _ in range(epochs):
        if tick is not None:
            tick()
        epoch()
    return model


class _Tick:
    def __init__(self, tick: Tick) -> None:
        self.tick = tick

    def on_epoch_start(self) -> None:
        self.tick()


def unitrain_run(
    model: nn.Module,
    batches: Sequence[Batch],
    epochs: int,
    device: torch.device,
    tick: Tick | None = None,
) -> nn.Module:
    """The same training through unitrain (the mixed-precision plugin on CUDA)."""
    plugins: list[object] = [] if tick is None else [_Tick(tick)]
    if device.type == "cuda":
        from unitrain.plugins import MixedPrecision

        plugins.append(MixedPrecision("fp16"))
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=_optimizer)
    trainer = ut.Trainer(
        task, plugins=plugins, max_epochs=epochs, eval_every_epochs=None, device=device
    )
    trainer.fit(batches)
    _sync(device)
    return model


RUNS = {"raw loop": raw_run, "unitrain": unitrain_run}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _case(name: str, batches: Sequence[Batch], seed: int, device: torch.device) -> Case:
    train = RUNS[name]

    def run(epochs: int, tick: Tick | None = None) -> nn.Module:
        return train(small_cnn(seed), batches, epochs, device, tick)

    return Case(name, run, run)


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory_child(name: str, steps: int, batch: int, epochs: int, seed: int) -> None:
    """In a fresh process: train one case and print its peak and growth of RSS (KiB)."""
    single_thread()
    device = torch.device("cpu")
    batches = image_batches(steps, batch, seed, device)
    before = _rss_kb()
    RUNS[name](small_cnn(seed + 1), batches, epochs, device)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kb": peak, "growth_kb": peak - before}))


def cpu_memory(names: Sequence[str], args: Any) -> dict[str, dict[str, int]]:
    """Peak RSS of each case, each in its own interpreter with identical imports (run side
    by side: a process's peak RSS does not depend on its neighbours)."""
    children = {}
    for name in names:
        command = [
            sys.executable, os.path.abspath(__file__), "--memory-child", name,
            "--steps", str(args.steps), "--batch", str(args.batch),
            "--epochs", "1", str(args.epochs[1]), "--seed", str(args.seed),
        ]  # fmt: skip
        children[name] = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    found: dict[str, dict[str, int]] = {}
    for name, child in children.items():
        output, _ = child.communicate()
        if child.returncode:
            raise RuntimeError(f"memory measurement of {name!r} failed ({child.returncode})")
        found[name] = json.loads(output.strip().splitlines()[-1])
    return found


def cuda_memory(
    names: Sequence[str], batches: Sequence[Batch], args: Any, device: torch.device
) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for name in names:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        RUNS[name](small_cnn(args.seed + 1), batches, args.epochs[1], device)
        peak = torch.cuda.max_memory_allocated(device)
        found[name] = {"peak_kb": peak // 1024, "growth_kb": (peak - before) // 1024}
    return found


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = base_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeats=7, steps=16, epochs=(1, 3))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--paired-epochs", type=int, default=6, help="epochs per paired fit")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--memory-child", choices=list(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps, args.batch = 1, 2, 4
        args.epochs, args.paired_epochs = (1, 2), 3
    if args.memory_child:
        memory_child(args.memory_child, args.steps, args.batch, args.epochs[1], args.seed)
        return {}
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    single_thread()
    if cuda:  # bit-identical weights need deterministic kernels
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    batches = image_batches(args.steps, args.batch, args.seed, device)
    cases = [_case(name, batches, args.seed + 1, device) for name in RUNS]
    precision = "fp16 autocast + GradScaler" if cuda else "fp32"
    print(
        f"small CNN on {device.type} ({precision}), batch {args.batch}, {args.steps} steps/epoch, "
        f"epochs {args.epochs[0]} vs {args.epochs[1]}, {args.repeats} interleaved repeats, "
        f"torch {torch.__version__}"
    )
    started = time.perf_counter()
    result = measure(
        cases,
        cases[0].run,
        epochs=(args.epochs[0], args.epochs[1]),
        steps_per_epoch=args.steps,
        repeats=args.repeats,
        clock="wall" if cuda else args.clock,
        progress=print if args.verbose else None,
    )

    def make_raw() -> tuple[nn.Module, Tick]:
        model = small_cnn(args.seed + 1)
        return model, raw_epochs(model, batches, device)

    paired = measure_paired(
        cases,
        make_raw,
        cases[0].run,
        epochs=args.paired_epochs,
        repeats=args.repeats,
        clock="wall" if cuda else args.clock,
        sync=lambda: _sync(device),
    )
    memory = (
        cuda_memory(list(RUNS), batches, args, device) if cuda else cpu_memory(list(RUNS), args)
    )
    raw = cases[0].name
    rows = []
    for case in cases:
        throughput = args.batch / (result.median_us(case.name) * 1e-6)
        rows.append(
            [
                case.name,
                result.median_us(case.name) / 1000,
                throughput,
                1 / result.ratio(case.name, raw),
                1 / result.best_ratio(case.name, raw),
                1 / paired.ratio(case.name),
                memory[case.name]["peak_kb"] / 1024,
                memory[case.name]["growth_kb"] / 1024,
            ]
        )
    print_table(
        "marginal time per step (median); throughput ratio = median of per-repeat ratios",
        [
            "case",
            "ms/step",
            "samples/s",
            "throughput ratio",
            "min-based",
            "paired",
            "peak MiB",
            "growth MiB",
        ],
        rows,
    )
    checked = result.checked + paired.checked
    print(f"\n{checked} trained models bit-identical; {time.perf_counter() - started:.1f} s")
    values: dict[str, object] = {
        "throughput_ratio": 1 / result.ratio("unitrain", raw),
        "throughput_ratio_min": 1 / result.best_ratio("unitrain", raw),
        "paired_throughput_ratio": 1 / paired.ratio("unitrain"),
        "paired_noise_floor": 1 / paired.ratio(raw),
        "peak_memory_ratio": memory["unitrain"]["peak_kb"] / memory[raw]["peak_kb"],
        "device": device.type,
        "bit_identical": True,
    }
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
