"""Timing utilities shared by the benchmark scripts.

The method (``peers.md`` §2.2): every case trains a fresh model for ``E1`` and for ``E2``
epochs over the same pre-made batches; ``(t(E2) - t(E1)) / ((E2 - E1) * steps)`` is the
marginal time per step, which cancels every per-fit setup cost (building a trainer,
registering plugins, the first-call warm-up). Cases are interleaved (each repeat runs every
case once, in a rotated order) so that slow drift of a shared machine hits all of them
alike; we report medians over repeats and, for ratios, the median of the per-repeat ratios
(each repeat pairs a case with the raw loop measured moments apart).

Every run is also a correctness check: its final weights must be bit-identical
(``torch.equal``) to the hand-written loop's after the same number of epochs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import itertools
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "Batch",
    "Case",
    "Measurement",
    "PairedFn",
    "WeightMismatch",
    "CLOCKS",
    "base_parser",
    "emit",
    "make_batches",
    "measure",
    "print_table",
    "quiet",
    "raw_loop",
    "same_weights",
    "single_thread",
    "tiny_mlp",
]

Batch = tuple[torch.Tensor, torch.Tensor]
RunFn = Callable[[int], nn.Module]
"""Trains a fresh model for the given number of epochs and returns it."""
PairedFn = Callable[[int, Callable[[], None]], nn.Module]
"""The same, calling the given ``tick()`` at the start of every epoch (see ``_paired``)."""


class WeightMismatch(AssertionError):
    """A case's trained weights differ from the raw loop's: its timing would be meaningless."""


def single_thread() -> None:
    """One intra-op thread: framework overhead is not hidden behind parallel kernels."""
    torch.set_num_threads(1)


def tiny_mlp(seed: int, sizes: Sequence[int] = (32, 64, 10)) -> nn.Sequential:
    """A small MLP whose step is dominated by framework overhead, built from ``seed``."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(sizes)):
        if index:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


def make_batches(steps: int, batch: int, features: int, classes: int, seed: int) -> list[Batch]:
    """``steps`` pre-made CPU ``(inputs, targets)`` batches: no loader, no collation."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(steps * batch, features, generator=generator)
    targets = torch.randint(0, classes, (steps * batch,), generator=generator)
    return [(inputs[i : i + batch], targets[i : i + batch]) for i in range(0, steps * batch, batch)]


def raw_loop(
    model: nn.Module,
    batches: Sequence[Batch],
    epochs: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device,
    tick: Callable[[], None] | None = None,
) -> nn.Module:
    """The hand-written loop every case is compared with (as in Lightning's parity test:
    batches moved with ``.to(device)``, no host sync, gradients set to ``None``)."""
    model.train()
    for _ in range(epochs):
        if tick is not None:
            tick()
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return model


def ignite_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, device: torch.device
) -> Callable[[Any, Batch], torch.Tensor]:
    """The raw loop's step as an Ignite ``Engine`` process function (plus the
    ``model.train()`` an Ignite trainer calls per step)."""

    def step(engine: Any, batch: Batch) -> torch.Tensor:
        inputs, targets = batch[0].to(device), batch[1].to(device)
        model.train()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        detached: torch.Tensor = loss.detach()  # no .item(): no host sync, as in the raw loop
        return detached

    return step


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """True when every parameter and buffer of ``a`` and ``b`` is bit-identical."""
    state_a, state_b = a.state_dict(), b.state_dict()
    if list(state_a) != list(state_b):
        return False
    return all(torch.equal(state_a[k].detach().cpu(), state_b[k].detach().cpu()) for k in state_a)


@dataclass
class Case:
    """One way of training: a name and a function of the number of epochs."""

    name: str
    run: RunFn
    paired: PairedFn | None = None


@dataclass
class Measurement:
    """Marginal seconds per step of each case, one value per repeat (same repeat order)."""

    per_step: dict[str, list[float]] = field(default_factory=dict)
    checked: int = 0

    def median_us(self, name: str) -> float:
        """Median marginal microseconds per step of ``name``."""
        return statistics.median(self.per_step[name]) * 1e6

    def ratio(self, name: str, base: str) -> float:
        """Median over repeats of ``name``'s time divided by ``base``'s in the same repeat."""
        pairs = zip(self.per_step[name], self.per_step[base], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def best_ratio(self, name: str, base: str) -> float:
        """Fastest repeat of ``name`` over fastest of ``base``: contention only ever adds
        time, so on a busy machine the minimums are the least disturbed estimate."""
        return min(self.per_step[name]) / min(self.per_step[base])

    def spread(self, name: str, base: str) -> tuple[float, float]:
        """Lower and upper quartile of the per-repeat ratios (how much to trust the median)."""
        pairs = zip(self.per_step[name], self.per_step[base], strict=True)
        ratios = sorted(a / b for a, b in pairs)
        if len(ratios) < 4:
            return ratios[0], ratios[-1]
        quartiles = statistics.quantiles(ratios, n=4)
        return quartiles[0], quartiles[2]


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
"""``cpu``: this process's CPU time, which a busy shared machine disturbs far less than
wall time (one torch thread: CPU time is the work done); ``wall``: needed for CUDA, whose
kernels run outside the process's CPU time."""


def _timed(run: RunFn, epochs: int, clock: Callable[[], float]) -> tuple[float, nn.Module]:
    gc.collect()
    gc.disable()  # a collection inside one run but not another is noise, not overhead
    try:
        start = clock()
        model = run(epochs)
        elapsed = clock() - start
    finally:
        gc.enable()
    return elapsed, model


def measure(
    cases: Sequence[Case],
    reference: Callable[[int], nn.Module],
    *,
    epochs: tuple[int, int],
    steps_per_epoch: int,
    repeats: int,
    warmup: bool = True,
    clock: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> Measurement:
    """Marginal time per step of every case, interleaved over ``repeats``.

    ``reference(epochs)`` gives the raw loop's model; each case's model after ``E1`` and
    ``E2`` epochs must equal it bit for bit, or :class:`WeightMismatch` is raised.
    ``clock`` is a key of :data:`CLOCKS`.
    """
    timer = CLOCKS[clock]
    first, second = epochs
    if second <= first:
        raise ValueError(f"epochs must be (E1, E2) with E2 > E1, got {epochs}")
    expected = {first: reference(first), second: reference(second)}
    result = Measurement({case.name: [] for case in cases})
    if warmup:  # first calls import lazily and fill caches; not part of any case's cost
        for case in cases:
            case.run(1)
    for repeat in range(repeats):
        shift = repeat % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            t_first, model_first = _timed(case.run, first, timer)
            t_second, model_second = _timed(case.run, second, timer)
            for count, model in ((first, model_first), (second, model_second)):
                if not same_weights(model, expected[count]):
                    raise WeightMismatch(
                        f"{case.name}: weights after {count} epochs differ from the raw loop's"
                    )
                result.checked += 1
            steps = (second - first) * steps_per_epoch
            result.per_step[case.name].append((t_second - t_first) / steps)
        if progress is not None:
            progress(f"repeat {repeat + 1}/{repeats} done")
    return result


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence a peer's banners, tips and warnings (their cost cancels in the margin)."""
    sink = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats")
    parser.add_argument("--steps", type=int, default=64, help="batches per epoch")
    parser.add_argument("--epochs", type=int, nargs=2, default=(1, 5), metavar=("E1", "E2"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="see CLOCKS")
    parser.add_argument("--no-peers", action="store_true", help="skip Ignite and Lightning")
    parser.add_argument("--verbose", action="store_true", help="print progress per repeat")
    return parser


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def emit(values: dict[str, object]) -> None:
    """The machine-readable result: one ``name=value`` line each, at the end."""
    print()
    for name, value in values.items():
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, float):
            text = f"{value:.4f}"
        else:
            text = str(value)
        print(f"{name}={text}")
