"""``Task(compile=True)`` against the same task eager: the small CNN of ``realistic.py`` on CPU.

Two figures, reported apart:

- ``compile_s``: the compiled fit's first step minus the eager fit's first step, wall time
  (``compile_cpu_s``: the same in CPU time of this process and of the gcc runs it waited for,
  which other jobs on a shared machine do not inflate).
  That is TorchDynamo tracing the forward, AOTAutograd building the backward and inductor
  generating C++ that gcc builds. Measured in this process before anything else is
  compiled, with inductor's on-disk caches off (``--cached`` keeps them: what a second run
  of the same model pays). Only the training graph: an evaluation under ``no_grad`` is
  one more compile, the first time it runs.
- ``throughput_ratio``: compiled samples/s ÷ eager samples/s, from the marginal time per
  step (``_common``: every case trains a fresh model for ``E1`` and ``E2`` epochs,
  interleaved over repeats; ``(t(E2) − t(E1)) / ((E2 − E1) · steps)`` cancels set-up,
  compiling included, as the models after the first reuse the compiled code).
  ``throughput_ratio_min`` pairs the fastest repeats.

Both cases train through unitrain (``Task`` + ``Trainer``), one thread, fp32. Each run's
weights are checked bit for bit against a hand-written loop over the same forward (the
compiled run against the loop with the same ``torch.compile``'d forward); compiled and eager
weights differ by float rounding (inductor sums a bias gradient in its own order), printed
as ``max_abs_diff_vs_eager``. ``--smoke`` runs a few steps and prints the same lines,
checking nothing (``weights_checked=false``), with inductor's disk caches on
(``benchmarks/smoke.py`` runs it in CI). Run: ``python benchmarks/compile.py``.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from _common import (
    Batch,
    WeightMismatch,
    base_parser,
    emit,
    print_table,
    same_weights,
    single_thread,
)
from realistic import LR, image_batches, small_cnn
from torch import nn

import unitrain as ut

CASES = ("eager", "compiled")


def _optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=LR, momentum=0.9)


def unitrain_fit(seed: int, batches: Sequence[Batch], epochs: int, compiled: bool) -> nn.Module:
    """A fresh CNN trained through unitrain, its forward compiled or not."""
    model = small_cnn(seed)
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=_optimizer, compile=compiled)
    trainer = ut.Trainer(task, max_epochs=epochs, eval_every_epochs=None, device="cpu")
    trainer.fit(batches)
    return model


def hand_written(seed: int, batches: Sequence[Batch], epochs: int, compiled: bool) -> nn.Module:
    """The same training by hand; ``compiled``: the forward is ``torch.compile(forward)``."""
    model = small_cnn(seed)
    if compiled:
        model.forward = torch.compile(model.forward)  # type: ignore[method-assign]
    optimizer = _optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for images, labels in batches:
            loss_fn(model(images), labels).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return model


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # gcc, waited for by inductor
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of ``run()``; cpu counts this process and its finished
    children (what a busy machine's other jobs do not inflate)."""
    wall, cpu = time.perf_counter(), _cpu()
    run()
    return time.perf_counter() - wall, _cpu() - cpu


def compile_seconds(
    seed: int, batches: Sequence[Batch], cached: bool
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(wall, cpu)`` seconds of the first one-step fit: ``(eager, compiled)``."""
    import torch._inductor.config as inductor_config

    first = batches[:1]
    eager = _timed(lambda: unitrain_fit(seed, first, 1, False))
    previous = inductor_config.force_disable_caches
    inductor_config.force_disable_caches = not cached
    try:
        with warnings.catch_warnings():  # torch says, once, that caches off means no PGO
            warnings.filterwarnings("ignore", message="dynamo_pgo force disabled")
            compiled = _timed(lambda: unitrain_fit(seed, first, 1, True))
    finally:
        inductor_config.force_disable_caches = previous
    return eager, compiled


def marginal(
    seed: int,
    batches: Sequence[Batch],
    epochs: tuple[int, int],
    repeats: int,
    check: bool,
) -> tuple[dict[str, list[float]], float]:
    """Marginal CPU seconds per step of each case, per repeat (interleaved, rotated order);
    and the largest difference of the compiled weights from the eager ones."""
    first, second = epochs
    expected = {
        (name, count): hand_written(seed, batches, count, name == "compiled")
        for name in CASES
        for count in epochs
    }
    per_step: dict[str, list[float]] = {name: [] for name in CASES}
    trained: dict[str, nn.Module] = {}
    for repeat in range(repeats):
        order = CASES[repeat % 2 :] + CASES[: repeat % 2]
        for name in order:
            times = []
            for count in epochs:
                start = time.process_time()
                model = unitrain_fit(seed, batches, count, name == "compiled")
                times.append(time.process_time() - start)
                if check and not same_weights(model, expected[(name, count)]):
                    raise WeightMismatch(f"{name}: weights after {count} epochs differ")
                trained[name] = model
            per_step[name].append((times[1] - times[0]) / ((second - first) * len(batches)))
    drift = max(
        (a - b).abs().max().item()
        for a, b in zip(
            trained["compiled"].state_dict().values(),
            trained["eager"].state_dict().values(),
            strict=True,
        )
    )
    return per_step, drift


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = base_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeats=5, steps=16, epochs=(1, 3))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--cached", action="store_true", help="keep inductor's disk caches")
    parser.add_argument("--smoke", action="store_true", help="a few steps; checks nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps, args.batch, args.epochs = 1, 2, 8, (1, 2)
        args.cached = True  # CI runs it every time: reuse what an earlier run compiled
    single_thread()
    batches = image_batches(args.steps, args.batch, args.seed, torch.device("cpu"))
    print(
        f"small CNN on cpu (fp32, one thread), batch {args.batch}, {args.steps} steps/epoch, "
        f"epochs {args.epochs[0]} vs {args.epochs[1]}, {args.repeats} interleaved repeats, "
        f"torch {torch.__version__}, inductor caches {'on' if args.cached else 'off'}"
    )
    started = time.perf_counter()
    torch._dynamo.reset()
    eager_first, compiled_first = compile_seconds(args.seed + 1, batches, args.cached)
    per_step, drift = marginal(
        args.seed + 1, batches, (args.epochs[0], args.epochs[1]), args.repeats, not args.smoke
    )
    median = {name: statistics.median(per_step[name]) for name in CASES}
    ratios = [e / c for e, c in zip(per_step["eager"], per_step["compiled"], strict=True)]
    rows = [
        [name, median[name] * 1000, args.batch / median[name] if median[name] > 0 else 0.0]
        for name in CASES
    ]
    print_table("marginal CPU time per step (median)", ["case", "ms/step", "samples/s"], rows)
    print(
        f"\nfirst one-step fit, wall (cpu): eager {eager_first[0]:.2f} s ({eager_first[1]:.2f} "
        f"s), compiled {compiled_first[0]:.2f} s ({compiled_first[1]:.2f} s); "
        f"{time.perf_counter() - started:.1f} s in all"
    )
    values: dict[str, object] = {
        "compile_s": compiled_first[0] - eager_first[0],
        "compile_cpu_s": compiled_first[1] - eager_first[1],
        "throughput_ratio": statistics.median(ratios),
        "throughput_ratio_min": min(per_step["eager"]) / min(per_step["compiled"]),
        "max_abs_diff_vs_eager": f"{drift:.1e}",
        "weights_checked": not args.smoke,
    }
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
