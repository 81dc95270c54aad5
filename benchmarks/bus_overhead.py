"""What the message bus costs: idle, per-tensor statistics, and all-layer ``LayerStats``.

Two models (a 4-layer MLP and a small CNN), every layer tapped, SGD, one torch thread.
Variants, each a whole fit over the same pre-made batches:

- ``bare``: the engine alone;
- ``bus_idle``: ``unitrain.bus.attach(trainer)`` with no subscriber (goal <= 1.01);
- ``hand``: hand-written torch hooks computing the activation norms, weight-gradient norms
  and update/weight norm ratios of every layer one tensor at a time, read every 50 steps;
- ``per_tensor``: the same numbers from ``NormSubscriber("activations")``,
  ``NormSubscriber("weight_gradients")``, ``RatioSubscriber(["weight_updates",
  "weights"])`` and ``BusLog(every=50)`` (the configuration the issue measured at 1.22 / 1.12);
- ``layer_stats``: ``LayerStats(every=10)``: the 2-norms of every layer's weights, weight
  gradients, weight updates and activations, batched per kind, buffered on the device and
  read to the host every 10 steps (goal <= 1.05 x bare); on CPU it reduces each
  activation in the forward hook, as it is produced;
- ``layer_stats_late``: the same with ``eager=False``: activations kept by the taps and
  reduced in one batched call at the step's end (what CUDA does).

Three measures, each printed beside its noise floor:

1. fit-level: process CPU time of whole fits, interleaved repeats, medians (the old method);
2. paired epochs (``_paired``): each case epoch against a raw-loop epoch run just before it;
   ``case / bare`` is the ratio of the two paired medians, the noise floor is the raw loop
   paired with itself; every trained model is checked bit for bit against the raw loop's;
3. ``--instructions``: instructions per step counted by callgrind (``_callgrind``), steps
   ``N2 - N1`` of two fits, which load cannot disturb (valgrind must be installed).

Beside them, the floor: **the statistics' own arithmetic**, each pass ``LayerStats()`` makes
over the model's tensors (the pre-step copy of the weights, turning it into the update, the
norms of weights, gradients, updates and activations) timed alone with the cache warm, and
its sum as a share of a hand-written step of the same model (``<model>_arithmetic_share``):
what the statistics cost with no framework, no hook and no Python around them.

On CUDA (``--device cuda``) it also counts host syncs in a ``layer_stats`` fit whose reads
fall outside it (``torch.cuda.set_sync_debug_mode``). ``--smoke``: tiny sizes, numbers
printed, nothing asserted (CI). Final lines ``name=value``: ``bus_overhead_ratio`` (the
worse idle ratio), ``<model>_layer_stats_ratio`` and ``<model>_per_tensor_ratio`` (paired,
to bare), ``paired_noise_floor``, ``<model>_arithmetic_share``,
``<model>_layer_stats_instructions_ratio``.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bus_overhead.py [--steps 30 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from _callgrind import available, count_regions, region
from _common import Case, emit, print_table
from _paired import Tick, measure_paired
from torch import nn

import unitrain as ut
import unitrain.bus as ub

MODELS = ("mlp", "cnn")
VARIANTS = ("bare", "bus_idle", "hand", "per_tensor", "layer_stats", "layer_stats_late")
PAIRED = ("bare", "per_tensor", "layer_stats", "layer_stats_late")
COUNTED = ("bare", "per_tensor", "layer_stats")
LR = 0.01


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10),
    )  # fmt: skip


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 12 * 12, 10),
    )  # fmt: skip


def model_of(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return mlp() if kind == "mlp" else cnn()


def data(kind: str, steps: int, device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    shape = (128, 256) if kind == "mlp" else (64, 3, 16, 16)
    return [
        (torch.randn(shape, generator=generator).to(device),
         torch.randint(0, 10, (shape[0],), generator=generator).to(device))
        for _ in range(steps)
    ]  # fmt: skip


class HandHooks:
    """The hand-written equivalent of the subscribed bus: plain torch hooks."""

    def __init__(self, every: int = 50) -> None:
        self.every, self.values, self.rows, self.steps = every, [], [], 0
        self.handles: list[Any] = []
        self.saved: list[torch.Tensor] = []

    def on_fit_start(self, state: Any) -> None:
        leaves = [m for m in state.model.modules() if not list(m.children())]
        self.params = [
            m.weight for m in leaves if isinstance(getattr(m, "weight", None), nn.Parameter)
        ]
        for module in leaves:
            self.handles.append(module.register_forward_hook(self._forward))
        for param in self.params:
            self.handles.append(param.register_post_accumulate_grad_hook(self._grad))

    def _forward(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if module.training and torch.is_grad_enabled():
            self.values.append(output.detach().norm())

    def _grad(self, param: torch.Tensor) -> None:
        self.values.append(param.grad.norm())

    def on_before_optimizer_step(self, state: Any, optimizer: Any, optimizer_idx: int) -> None:
        self.saved = [p.detach().clone() for p in self.params]

    def on_after_optimizer_step(self, state: Any, optimizer: Any, optimizer_idx: int) -> None:
        for param, old in zip(self.params, self.saved, strict=True):
            self.values.append((param.detach() - old).norm() / param.detach().norm())

    def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            self.rows.extend(torch.stack(self.values).tolist())
            self.values.clear()

    def on_fit_end(self, state: Any) -> None:
        if self.values:
            self.rows.extend(torch.stack(self.values).tolist())
        for handle in self.handles:
            handle.remove()


class _Tick:
    def __init__(self, tick: Tick) -> None:
        self.tick = tick

    def on_epoch_start(self, state: Any) -> None:
        self.tick()


def make(
    kind: str,
    variant: str,
    device: str,
    log_every: int = 50,
    stats_every: int = 10,
    epochs: int = 1,
    tick: Tick | None = None,
) -> ut.Trainer:
    task = ut.Task(
        model_of(kind), loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=LR)
    )
    plugins = [] if tick is None else [_Tick(tick)]
    trainer = ut.Trainer(
        task, plugins=plugins, max_epochs=epochs, eval_every_epochs=None, device=device
    )
    if variant == "bus_idle":
        ub.attach(trainer)
    elif variant == "hand":
        trainer.add_plugin(HandHooks(log_every))
    elif variant == "per_tensor":
        ub.attach(
            trainer,
            ub.NormSubscriber("activations"),
            ub.NormSubscriber("weight_gradients"),
            ub.RatioSubscriber(["weight_updates", "weights"]),
            ub.BusLog(every=log_every),
        )
    elif variant == "layer_stats":
        ub.attach(trainer, ub.LayerStats(every=stats_every))
    elif variant == "layer_stats_late":
        ub.attach(trainer, ub.LayerStats(every=stats_every, eager=False))
    elif variant != "bare":
        raise SystemExit(f"unknown variant {variant!r}")
    return trainer


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_fit(kind: str, variant: str, batches: list[Any], device: str) -> float:
    trainer = make(kind, variant, device)
    # On CPU the process's CPU time (one torch thread) is what the bus adds, and unlike wall
    # time it does not move when other processes share the cores. On CUDA: wall time.
    clock = time.perf_counter if device == "cuda" else time.process_time
    _sync(device)
    start = clock()
    trainer.fit(batches)
    _sync(device)
    return (clock() - start) / len(batches)


def fit_level(kind: str, batches: list[Any], repeats: int, device: str) -> dict[str, float]:
    """Median seconds per step of every variant, whole fits, rotated order."""
    for variant in VARIANTS:  # warm-up: allocator, kernels, first-call imports
        timed_fit(kind, variant, batches[:5], device)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for repeat in range(repeats):
        shift = repeat % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            times[variant].append(timed_fit(kind, variant, batches, device))
    return {v: statistics.median(t) for v, t in times.items()}


def raw_epochs(kind: str, batches: list[Any], device: str) -> tuple[nn.Module, Callable[[], None]]:
    """A fresh model and one epoch of the hand-written loop per call."""
    model = model_of(kind).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> None:
        for inputs, targets in batches:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return model, epoch


def paired(kind: str, batches: list[Any], args: argparse.Namespace) -> dict[str, float]:
    """Paired-epoch medians (case epoch / raw epoch) of raw, bare and the statistics."""

    def case(variant: str) -> Case:
        def run(epochs: int, tick: Tick | None = None) -> nn.Module:
            trainer = make(kind, variant, args.device, epochs=epochs, tick=tick)
            trainer.fit(batches)
            _sync(args.device)
            assert trainer.state.model is not None
            return trainer.state.model

        return Case(variant, run, run)

    def raw(epochs: int, tick: Tick | None = None) -> nn.Module:
        model, epoch = raw_epochs(kind, batches, args.device)
        for _ in range(epochs):
            if tick is not None:
                tick()
            epoch()
        return model

    cases = [Case("raw", raw, raw), *(case(v) for v in PAIRED)]
    result = measure_paired(
        cases,
        lambda: raw_epochs(kind, batches, args.device),
        raw,
        epochs=args.paired_epochs,
        repeats=args.repeats,
        clock="wall" if args.device == "cuda" else "cpu",
        sync=lambda: _sync(args.device),
    )
    ratios = {c.name: result.ratio(c.name) for c in cases}
    spreads = {c.name: result.spread(c.name) for c in cases}
    rows = [
        [name, ratios[name], f"{spreads[name][0]:.3f}-{spreads[name][1]:.3f}",
         ratios[name] / ratios["bare"]]
        for name in ratios
    ]  # fmt: skip
    print_table(
        f"{kind}: paired epochs ({result.checked} models bit-identical to the raw loop)",
        ["case", "paired / raw", "IQR", "/ bare"],
        rows,
    )
    return ratios


def arithmetic(kind: str, batch: tuple[torch.Tensor, torch.Tensor], number: int) -> float:
    """The passes of ``LayerStats()`` over one step's tensors, each timed alone (best of 7
    rounds of ``number`` calls, warm cache); prints them and returns their sum as a share of
    a hand-written step of the same model."""
    model = model_of(kind).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    inputs, targets = batch

    def step() -> None:
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    params: list[torch.Tensor] = [
        w for m in model.children() if isinstance(w := getattr(m, "weight", None), nn.Parameter)
    ]
    weights = [p.detach() for p in params]
    loss_fn(model(inputs), targets).backward()
    gradients = [p.grad.detach().clone() for p in params if p.grad is not None]
    optimizer.zero_grad(set_to_none=True)
    copies = [w.clone() for w in weights]
    with torch.no_grad():
        outputs, hidden = [], inputs
        for module in model.children():
            hidden = module(hidden)
            outputs.append(hidden)
    distinct = [
        o for i, o in enumerate(outputs) if i == 0 or o.data_ptr() != outputs[i - 1].data_ptr()
    ]

    def best(work: Callable[[], object], calls: int = number) -> float:
        work()
        rounds = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(calls):
                work()
            rounds.append((time.perf_counter() - start) / calls)
        return min(rounds)

    passes: dict[str, Callable[[], object]] = {
        "copy of the weights": lambda: torch._foreach_copy_(copies, weights),
        "update (after - copy)": lambda: [
            torch.sub(w, c, out=c) for w, c in zip(weights, copies, strict=True)
        ],
        "norms of weights": lambda: torch._foreach_norm(weights),
        "norms of gradients": lambda: torch._foreach_norm(gradients),
        "norms of updates": lambda: torch._foreach_norm(copies),
        "norms of activations": lambda: [torch.linalg.vector_norm(o) for o in distinct],
    }
    times = {name: best(work) for name, work in passes.items()}
    bare = best(step, max(1, number // 4))
    total = sum(times.values())
    rows = [[name, seconds * 1e6, seconds / bare] for name, seconds in times.items()]
    rows += [["all passes", total * 1e6, total / bare], ["hand-written step", bare * 1e6, 1.0]]
    print_table(
        f"{kind}: the statistics' arithmetic alone (warm cache)", ["pass", "us", "/ step"], rows
    )
    return total / bare


def count_worker(kinds: Sequence[str], first: int, second: int) -> None:
    """Under callgrind: per model and variant, a warm-up fit, then fits of ``first`` and
    ``second`` steps, each one counted region (see ``_callgrind``)."""
    torch.set_num_threads(1)
    for kind in kinds:
        batches = data(kind, second, "cpu")
        for variant in COUNTED:
            make(kind, variant, "cpu").fit(batches[:3])
            for steps in (first, second):
                trainer = make(kind, variant, "cpu")
                region(lambda trainer=trainer, part=batches[:steps]: trainer.fit(part))


def instructions(kinds: Sequence[str], first: int, second: int) -> dict[str, dict[str, float]]:
    """Instructions per step of each counted variant (``second - first`` steps), per model;
    one process under valgrind for all of them (importing torch there takes minutes)."""
    script = [__file__, "--count-worker", *kinds, "--instructions", str(first), str(second)]
    counts = iter(count_regions(script))
    result: dict[str, dict[str, float]] = {}
    for kind in kinds:
        per_step = result[kind] = {}
        for variant in COUNTED:
            low, high = next(counts), next(counts)
            per_step[variant] = (high - low) / (second - first)
        rows = [[v, f"{n / 1e6:.3f} M", n / per_step["bare"]] for v, n in per_step.items()]
        print_table(f"{kind}: instructions per step (callgrind)", ["case", "Ir", "/ bare"], rows)
    return result


def count_syncs(kind: str, variant: str, batches: list[Any]) -> int:
    """Host syncs during one fit (``LayerStats`` reads once, when the fit ends)."""
    make(kind, variant, "cuda").fit(batches[:3])  # warm up outside the count
    trainer = make(kind, variant, "cuda", stats_every=10**9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(batches)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def idle_hook_cost(batches: list[Any]) -> float:
    """Seconds per step that the idle bus's own hooks take (robust to machine noise)."""
    trainer = make("mlp", "bus_idle", "cpu")
    trainer.fit(batches[:2])  # plans: nobody listens
    bus, state = trainer.plugins.get("bus"), trainer.state
    assert isinstance(bus, ub.MessageBus)
    batch, calls, result, optimizer = batches[0], 20000, ut.StepResult(), state.optimizers[0]
    start = time.perf_counter()
    for _ in range(calls):
        bus.on_train_step_start(state, batch)
        bus.on_before_optimizer_step(state, optimizer, 0)
        bus.on_train_step_end(state, batch, result)
    return (time.perf_counter() - start) / calls


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="batches per fit / epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paired-epochs", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--no-fit-level", action="store_true", help="paired epochs only")
    parser.add_argument(
        "--instructions", type=int, nargs=2, metavar=("N1", "N2"),
        help="also count instructions per step over fits of N1 and N2 steps (valgrind)",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI): numbers only")
    parser.add_argument("--count-worker", nargs="+", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_worker:
        count_worker(args.count_worker, *args.instructions)
        return {}
    if args.smoke:
        args.steps, args.repeats, args.paired_epochs = 4, 1, 3
    torch.set_num_threads(1)
    print(f"bus overhead on {args.device}, torch {torch.__version__}, 1 thread, {args.steps} steps")
    values: dict[str, object] = {}
    idle_ratios = []
    counted = {}
    if args.instructions and available():
        counted = instructions(args.models, *args.instructions)
    elif args.instructions:
        print("valgrind is not installed: no instruction counts")
    for kind in args.models:
        batches = data(kind, args.steps, args.device)
        if not args.no_fit_level:
            median = fit_level(kind, batches, args.repeats, args.device)
            rows = [[v, median[v] * 1e3, median[v] / median["bare"]] for v in VARIANTS]
            print_table(f"{kind}: fit-level medians", ["variant", "ms/step", "/ bare"], rows)
            idle_ratios.append(median["bus_idle"] / median["bare"])
            values[f"{kind}_fit_layer_stats_ratio"] = median["layer_stats"] / median["bare"]
        values[f"{kind}_arithmetic_share"] = arithmetic(kind, batches[0], 5 if args.smoke else 50)
        ratios = paired(kind, batches, args)
        values[f"{kind}_layer_stats_ratio"] = ratios["layer_stats"] / ratios["bare"]
        values[f"{kind}_per_tensor_ratio"] = ratios["per_tensor"] / ratios["bare"]
        values[f"{kind}_paired_noise_floor"] = ratios["raw"]
        if args.instructions:
            per_step = counted.get(kind, {})
            values[f"{kind}_layer_stats_instructions_ratio"] = (
                per_step["layer_stats"] / per_step["bare"] if per_step else math.nan
            )
        if args.device == "cuda":
            bare, syncs = (count_syncs(kind, v, batches) for v in ("bare", "layer_stats"))
            print(
                f"{kind}: host syncs in a fit of {args.steps} steps: bare {bare}, layer_stats "
                f"{syncs} (one is the read at the end of the fit)"
            )
            values[f"{kind}_host_syncs"] = syncs - bare
    cost = idle_hook_cost(data("mlp", 2, "cpu"))
    print(f"\nidle bus hooks: {cost * 1e6:.2f} us per step, measured directly")
    values["bus_overhead_ratio"] = max(idle_ratios) if idle_ratios else math.nan
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
