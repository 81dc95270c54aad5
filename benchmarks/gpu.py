"""unitrain on a device, per precision: throughput, peak memory and host syncs against a raw loop.

For each model (the tiny MLP of ``_common`` and the small CNN of ``realistic.py``) and each
precision (``fp32``; ``bf16`` and ``fp16`` autocast, with a ``GradScaler`` for fp16: the
recipe of unitrain's ``MixedPrecision`` plugin, written out by hand in the raw loop, see
``_precision``), on ``--device cuda`` (or ``cpu``: fp32 and bf16; fp16 needs CUDA and is
skipped with its reason):

- **throughput ratio**: unitrain's samples/s over the raw loop's by paired epochs
  (``_paired``: each unitrain epoch against a raw epoch run just before it), with the
  **noise floor** (the raw loop paired with itself); on CUDA wall time with a synchronize
  around each raw epoch, on CPU the process's CPU time (``--clock``);
- **peak memory** (CUDA): ``torch.cuda.max_memory_allocated`` of one fit, the peak
  statistics reset and the cache emptied before each case, nothing of the other case left
  on the device (the pre-made batches count in both); on CPU not measured
  (``realistic.py`` measures peak RSS);
- **host syncs per step**: synchronizing CUDA calls (sync-debug warnings; CUDA only) and
  host reads of tensor values (``.item()`` and the like; any device), each per step as the
  difference between fits of ``n`` and ``2n`` batches (see ``_precision``).

Batches are made once and put on the device before timing (no loader, no host-to-device
copy in the step). On CUDA the kernels are made deterministic (``CUBLAS_WORKSPACE_CONFIG``,
``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic and not
benchmarking) and every trained model, of every measurement, is compared bit for bit with
the raw loop's (``WeightMismatch`` otherwise); the count is printed.

Final lines, per ``<model>_<precision>``: ``_throughput_ratio``, ``_noise_floor``,
``_peak_mib_raw``, ``_peak_mib_unitrain``, ``_peak_memory_ratio``, ``_syncs_per_step_raw``,
``_syncs_per_step_unitrain``, ``_host_reads_per_step_raw``, ``_host_reads_per_step_unitrain``
(``nan`` where not measured); then ``device``, ``skipped`` and ``bit_identical``.
Run: ``python benchmarks/gpu.py`` (``--device cuda --precision fp32,bf16,fp16``;
``--smoke``: tiny sizes, one repeat, for CI).
"""

from __future__ import annotations

import gc
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from _common import (
    Batch,
    Case,
    WeightMismatch,
    base_parser,
    emit,
    make_batches,
    print_table,
    same_weights,
    single_thread,
    tiny_mlp,
)
from _paired import Tick, measure_paired
from _precision import (
    PRECISIONS,
    count_cuda_syncs,
    count_host_reads,
    per_step,
    plugins_for,
    raw_epoch,
    unsupported,
)
from realistic import image_batches, small_cnn
from torch import nn

import unitrain as ut

MODELS = ("mlp", "cnn")
Run = Callable[[Sequence[Batch], int, Tick | None], nn.Module]
"""Trains a fresh model on the batches for the epochs, ticking at each epoch start."""


@dataclass
class Setup:
    """One model on one device at one precision."""

    model: str
    precision: str
    device: torch.device
    seed: int
    batches: list[Batch]

    def fresh(self) -> nn.Module:
        builder = tiny_mlp if self.model == "mlp" else small_cnn
        return builder(self.seed).to(self.device)

    @staticmethod
    def optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)


def make_batches_for(
    model: str, steps: int, batch: int, seed: int, device: torch.device
) -> list[Batch]:
    """The model's pre-made batches, already on ``device``."""
    if model == "mlp":
        return [(x.to(device), y.to(device)) for x, y in make_batches(steps, batch, 32, 10, seed)]
    return image_batches(steps, batch, seed, device)


class _Tick:
    def __init__(self, tick: Tick) -> None:
        self.tick = tick

    def on_epoch_start(self) -> None:
        self.tick()


def raw_run(setup: Setup) -> Run:
    def run(batches: Sequence[Batch], epochs: int, tick: Tick | None = None) -> nn.Module:
        model = setup.fresh()
        optimizer = setup.optimizer(model.parameters())
        epoch = raw_epoch(
            model, batches, optimizer, nn.CrossEntropyLoss(), setup.device, setup.precision
        )
        for _ in range(epochs):
            if tick is not None:
                tick()
            epoch()
        return model

    return run


def unitrain_run(setup: Setup) -> Run:
    def run(batches: Sequence[Batch], epochs: int, tick: Tick | None = None) -> nn.Module:
        model = setup.fresh()
        plugins = plugins_for(setup.precision)
        if tick is not None:
            plugins.insert(0, _Tick(tick))
        task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=setup.optimizer)
        trainer = ut.Trainer(
            task, plugins=plugins, max_epochs=epochs, eval_every_epochs=None, device=setup.device
        )
        trainer.fit(list(batches))
        return model

    return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Checked:
    """Compares every trained model with the raw loop's and counts the comparisons."""

    def __init__(self) -> None:
        self.count = 0

    def equal(self, label: str, model: nn.Module, reference: nn.Module) -> None:
        if not same_weights(model, reference):
            raise WeightMismatch(f"{label}: weights differ from the raw loop's")
        self.count += 1


def peak_mib(run: Callable[[], nn.Module], device: torch.device) -> tuple[float, nn.Module]:
    """Peak allocated CUDA memory during ``run()`` (MiB), the peak statistics reset first."""
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    model = run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20, model


Counter = Callable[[Callable[[], object]], int]


class CountedFits:
    """``count(n)`` for ``per_step``: ``counter`` over a one-epoch fit of ``n`` batches
    (the setup's, cycled), whose weights are checked against the raw loop's."""

    def __init__(
        self, setup: Setup, run: Run, raw: Run, counter: Counter, label: str, checked: Checked
    ) -> None:
        self.setup, self.run, self.raw, self.counter = setup, run, raw, counter
        self.label, self.checked = label, checked

    def __call__(self, n: int) -> int:
        batches = [self.setup.batches[i % len(self.setup.batches)] for i in range(n)]
        trained: list[nn.Module] = []
        total = self.counter(lambda: trained.append(self.run(batches, 1, None)))
        self.checked.equal(self.label, trained[0], self.raw(batches, 1, None))
        return total


def bench(setup: Setup, args: Any, checked: Checked) -> dict[str, float]:
    """Every measurement of one model at one precision."""
    device, batches = setup.device, setup.batches
    runs = {"raw loop": raw_run(setup), "unitrain": unitrain_run(setup)}
    raw = runs["raw loop"]
    cases = [
        Case(name, lambda e, r=run: r(batches, e, None), lambda e, t, r=run: r(batches, e, t))
        for name, run in runs.items()
    ]
    for case in cases:  # first calls: lazy imports, CUDA kernels and handles
        case.run(1)

    def make_raw() -> tuple[nn.Module, Tick]:
        model = setup.fresh()
        optimizer = setup.optimizer(model.parameters())
        return model, raw_epoch(
            model, batches, optimizer, nn.CrossEntropyLoss(), device, setup.precision
        )

    paired = measure_paired(
        cases,
        make_raw,
        cases[0].run,
        epochs=args.paired_epochs,
        repeats=args.repeats,
        clock="wall" if device.type == "cuda" else args.clock,
        sync=lambda: _sync(device),
    )
    checked.count += paired.checked
    values: dict[str, float] = {
        "throughput_ratio": 1 / paired.ratio("unitrain"),
        "noise_floor": 1 / paired.ratio("raw loop"),
        "us_per_step_raw": paired.median_us("unitrain", args.steps, raw=True),
        "us_per_step_unitrain": paired.median_us("unitrain", args.steps),
    }

    epochs = args.epochs[1]
    # kept on the CPU: on the device it would sit inside both cases' peaks
    reference = raw(batches, epochs, None).cpu()
    if device.type == "cuda":
        peaks = {}
        for name, run in runs.items():
            peaks[name], model = peak_mib(lambda r=run: r(batches, epochs, None), device)
            checked.equal(f"{name} (peak memory run)", model, reference)
            del model  # freed before the next case's peak is measured
        values["peak_mib_raw"], values["peak_mib_unitrain"] = peaks["raw loop"], peaks["unitrain"]
        values["peak_memory_ratio"] = peaks["unitrain"] / peaks["raw loop"]
    else:
        values["peak_mib_raw"] = values["peak_mib_unitrain"] = math.nan
        values["peak_memory_ratio"] = math.nan

    counters: dict[str, Counter] = {"host_reads": count_host_reads}
    if device.type == "cuda":
        counters["syncs"] = count_cuda_syncs
    for kind, counter in counters.items():
        for name, run in runs.items():
            label = "raw" if name == "raw loop" else name
            counted = CountedFits(setup, run, raw, counter, f"{name} ({kind} count)", checked)
            values[f"{kind}_per_step_{label}"] = per_step(counted, args.count_steps)
    if "syncs" not in counters:
        values["syncs_per_step_raw"] = values["syncs_per_step_unitrain"] = math.nan

    # the final, explicit check: one more fit of each, same epochs, compared bit for bit
    final = runs["unitrain"](batches, epochs, None)
    checked.equal("unitrain (final check)", final, reference)
    print(
        f"  {setup.model} {setup.precision}: final weights of unitrain and the raw loop after "
        f"{epochs} epochs are bit-identical (torch.equal on every tensor)"
    )
    return values


def deterministic_cuda() -> None:
    """Kernels that give the same bits every run: a mismatch is then unitrain's, not noise.
    ``warn_only``: an op without a deterministic kernel warns instead of stopping the whole
    benchmark; the weight comparison still catches any difference it makes."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def parse(argv: Sequence[str] | None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeats=7, steps=32, epochs=(1, 3))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--precision", default=",".join(PRECISIONS), help="comma-separated: fp32,bf16,fp16"
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: mlp,cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--paired-epochs", type=int, default=6, help="epochs per paired fit")
    parser.add_argument("--count-steps", type=int, default=8, help="n of the sync counts")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps, args.batch = 1, 2, 4
        args.epochs, args.paired_epochs, args.count_steps = (1, 2), 3, 2
    for option, names, known in (
        ("--precision", "precision", PRECISIONS),
        ("--models", "models", MODELS),
    ):
        chosen = [name for name in getattr(args, names).split(",") if name]
        wrong = [name for name in chosen if name not in known]
        if wrong or not chosen:
            expected = ", ".join(known)
            parser.error(f"{option} {getattr(args, names)!r}: expected a list of {expected}")
        setattr(args, names, chosen)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda.is_available() is False on this machine")
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        deterministic_cuda()
    single_thread()
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(
        f"{name}, torch {torch.__version__}, batch {args.batch}, {args.steps} steps/epoch, "
        f"{args.paired_epochs} paired epochs x {args.repeats} repeats, "
        f"{'wall' if cuda else args.clock} clock; batches pre-made on the device"
    )
    started = time.perf_counter()
    checked = Checked()
    results: dict[tuple[str, str], dict[str, float]] = {}
    skipped: list[str] = []
    for precision in args.precision:
        reason = unsupported(precision, device)
        if reason is not None:
            print(f"  {precision}: skipped: {reason}")
            skipped.append(precision)
            continue
        for model in args.models:
            batches = make_batches_for(model, args.steps, args.batch, args.seed, device)
            setup = Setup(model, precision, device, args.seed + 1, batches)
            results[model, precision] = bench(setup, args, checked)
    report(results, device)
    elapsed = time.perf_counter() - started
    print(f"\n{checked.count} trained models bit-identical to the raw loop's; {elapsed:.1f} s")
    values: dict[str, object] = {}
    for (model, precision), found in results.items():
        for key in LINES:
            values[f"{model}_{precision}_{key}"] = found[key]
    values["device"] = device.type
    values["skipped"] = ",".join(skipped) or "none"
    values["bit_identical"] = True  # a mismatch raised WeightMismatch before this line
    emit(values)
    return values


COLUMNS = {
    "us_per_step_raw": "raw us/step",
    "us_per_step_unitrain": "unitrain us/step",
    "throughput_ratio": "throughput ratio",
    "noise_floor": "noise floor",
    "peak_mib_raw": "peak MiB raw",
    "peak_mib_unitrain": "peak MiB unitrain",
    "syncs_per_step_raw": "syncs raw",
    "syncs_per_step_unitrain": "syncs unitrain",
    "host_reads_per_step_raw": "reads raw",
    "host_reads_per_step_unitrain": "reads unitrain",
}
"""Each measured value and its column in the printed table."""
LINES = [key for key in COLUMNS if not key.startswith("us_")] + ["peak_memory_ratio"]
"""The values printed as ``<model>_<precision>_<key>=`` lines."""


def report(results: dict[tuple[str, str], dict[str, float]], device: torch.device) -> None:
    rows = [
        [model, precision, *(found[key] for key in COLUMNS)]
        for (model, precision), found in results.items()
    ]
    print_table(
        f"on {device.type}: throughput ratio = unitrain samples/s / raw (median of paired "
        "epochs); noise floor = the raw loop paired with itself; syncs = CUDA sync-debug "
        "warnings, reads = .item()-like host reads, each per step",
        ["model", "precision", *COLUMNS.values()],
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
