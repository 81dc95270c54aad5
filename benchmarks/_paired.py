"""Paired epochs: the marginal-epoch method at epoch granularity, for busy machines.

The fit-level method (``_common.measure``: ``t(E2) − t(E1)``) pairs a case with the raw
loop measured about a second apart; on a shared machine whose load changes from one second
to the next, that pairing is loose. Here every case's fit calls ``tick()`` at the start of
each of its epochs (one call per epoch: a plugin, an Ignite handler, a Lightning callback),
and each tick first runs **one epoch of the raw loop** on its own model, timed on its own.
So the case's epochs and raw epochs alternate, each pair measured within ~0.1 s:

    tick | raw epoch | case epoch k | tick | raw epoch | case epoch k+1 | ...

A case epoch runs from the end of one tick to the next tick: its steps, and every
per-epoch cost of the framework (end-of-epoch events, the next epoch's set-up), once. The
first case epoch (first calls, lazy imports) is dropped; the ratio of each remaining case
epoch to the raw epoch measured just before it is one sample, and we report medians over
all samples of all repeats. Both models are checked bit for bit against the raw loop's.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from _common import CLOCKS, Case, WeightMismatch, same_weights
from torch import nn

__all__ = ["PairedResult", "RawEpochs", "Tick", "measure_paired"]

Tick = Callable[[], None]
RawEpochs = Callable[[], tuple[nn.Module, Callable[[], None]]]
"""Makes a fresh raw-loop model and a function that trains it for one epoch."""


@dataclass
class PairedResult:
    """Per case: the ratios of its epochs to the adjacent raw epochs, and both times."""

    ratios: dict[str, list[float]] = field(default_factory=dict)
    case_seconds: dict[str, list[float]] = field(default_factory=dict)
    raw_seconds: dict[str, list[float]] = field(default_factory=dict)
    checked: int = 0

    def ratio(self, name: str) -> float:
        """Median over every paired epoch of every repeat."""
        return statistics.median(self.ratios[name])

    def spread(self, name: str) -> tuple[float, float]:
        """Lower and upper quartile of the paired ratios."""
        ratios = self.ratios[name]
        if len(ratios) < 4:
            return min(ratios), max(ratios)
        quartiles = statistics.quantiles(ratios, n=4)
        return quartiles[0], quartiles[2]

    def median_us(self, name: str, steps_per_epoch: int, raw: bool = False) -> float:
        """Median time per step of the case's epochs (or of the raw epochs paired with it)."""
        seconds = (self.raw_seconds if raw else self.case_seconds)[name]
        return statistics.median(seconds) / steps_per_epoch * 1e6


class _Ticker:
    def __init__(
        self, raw_epoch: Callable[[], None], clock: Callable[[], float], sync: Callable[[], None]
    ) -> None:
        self.raw_epoch = raw_epoch
        self.clock = clock
        self.sync = sync
        self.mark: float | None = None
        self.raw: list[float] = []
        self.case: list[float] = []

    def __call__(self) -> None:
        self.sync()  # a CUDA case's queued kernels belong to its epoch
        now = self.clock()
        if self.mark is not None:
            self.case.append(now - self.mark)
        start = self.clock()
        self.raw_epoch()
        self.sync()
        self.raw.append(self.clock() - start)
        self.mark = self.clock()


def measure_paired(
    cases: Sequence[Case],
    raw_epochs: RawEpochs,
    reference: Callable[[int], nn.Module],
    *,
    epochs: int,
    repeats: int,
    clock: str = "cpu",
    sync: Callable[[], None] = lambda: None,
) -> PairedResult:
    """Paired-epoch ratios of every case with a ``paired`` runner (see the module doc).

    ``sync`` waits for the device (``torch.cuda.synchronize``) around each raw epoch."""
    if epochs < 3:
        raise ValueError(f"paired epochs need at least 3 epochs per fit, got {epochs}")
    expected = reference(epochs)
    timer = CLOCKS[clock]
    paired = [case for case in cases if case.paired is not None]
    result = PairedResult()
    for case in paired:
        result.ratios[case.name], result.case_seconds[case.name] = [], []
        result.raw_seconds[case.name] = []
    for repeat in range(repeats):
        shift = repeat % len(paired)
        for case in [*paired[shift:], *paired[:shift]]:
            assert case.paired is not None
            raw_model, raw_epoch = raw_epochs()
            ticker = _Ticker(raw_epoch, timer, sync)
            gc.collect()
            gc.disable()
            try:
                model = case.paired(epochs, ticker)
            finally:
                gc.enable()
            for label, trained in ((case.name, model), (f"{case.name} (its raw pair)", raw_model)):
                if not same_weights(trained, expected):
                    raise WeightMismatch(f"{label}: weights differ from the raw loop's")
                result.checked += 1
            if len(ticker.case) != epochs - 1:
                raise RuntimeError(
                    f"{case.name}: tick() ran {len(ticker.case) + 1} times for {epochs} epochs"
                )
            # drop the first case epoch (first calls), keep the pairs (raw k+1, case k+1)
            for raw, own in zip(ticker.raw[1:-1], ticker.case[1:], strict=True):
                result.ratios[case.name].append(own / raw)
                result.case_seconds[case.name].append(own)
                result.raw_seconds[case.name].append(raw)
    return result
