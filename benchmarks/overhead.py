"""Framework overhead on a tiny MLP: unitrain against a raw loop, Ignite and Lightning.

Cases (same model, data, optimizer and step body; CPU, one thread, pre-made batches):
the hand-written loop; unitrain bare; unitrain with 10 and 30 no-op plugins spread over the
plugin styles that can be imported (native; t3w side effects; aitoolbox callbacks), each
listening to every per-step event; Ignite's ``Engine``; Lightning's ``Trainer`` (no logger,
checkpointing, progress bar or model summary). Timing (``--method``): the fit-level
marginal-epoch method of ``_common`` (``t(E2) − t(E1)``, interleaved repeats, medians) and
the paired-epoch method of ``_paired`` (each case epoch against a raw epoch run just
before it; far less noisy on a busy machine). Every trained model is checked bit for bit
against the raw loop's.

Final lines, fit-level: ``overhead_ratio`` (unitrain bare / raw, median of per-repeat
ratios), ``overhead_ratio_min`` (fastest repeat over fastest repeat), ``plugins10_ratio``,
``plugins30_ratio``, ``per_listener_us`` (extra time per listener call, from the 30-plugin
case), ``ignite_ratio``, ``lightning_ratio`` (``nan`` when not installed); the same with a
``paired_`` prefix, plus ``paired_noise_floor`` (the raw loop paired with itself); and
``bit_identical``. Run: ``python benchmarks/overhead.py`` (``--help`` for sizes; ``--smoke``:
tiny sizes and one repeat, for CI).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import torch
from _common import (
    Batch,
    Case,
    base_parser,
    emit,
    ignite_step,
    make_batches,
    measure,
    print_table,
    quiet,
    raw_loop,
    single_thread,
    tiny_mlp,
)
from _paired import RawEpochs, Tick, measure_paired
from _styles import PER_STEP_HOOKS, noop_plugins
from torch import nn

import unitrain as ut

LR = 0.05
CPU = torch.device("cpu")


def _optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=LR)


def raw_case(batches: Sequence[Batch], seed: int) -> Case:
    def run(epochs: int, tick: Tick | None = None) -> nn.Module:
        model = tiny_mlp(seed)
        optimizer = _optimizer(model.parameters())
        return raw_loop(model, batches, epochs, optimizer, nn.CrossEntropyLoss(), CPU, tick)

    return Case("raw loop", run, run)


def raw_epochs(batches: Sequence[Batch], seed: int) -> RawEpochs:
    """The raw loop one epoch at a time, the pair of every case epoch (see ``_paired``)."""

    def make() -> tuple[nn.Module, Tick]:
        model = tiny_mlp(seed)
        optimizer, loss_fn = _optimizer(model.parameters()), nn.CrossEntropyLoss()

        def epoch() -> None:
            raw_loop(model, batches, 1, optimizer, loss_fn, CPU)

        return model, epoch

    return make


class _Tick:
    """A plugin that calls ``tick()`` at every epoch start (one call per epoch)."""

    def __init__(self, tick: Tick) -> None:
        self.tick = tick

    def on_epoch_start(self) -> None:
        self.tick()


def unitrain_trainer(model: nn.Module, epochs: int, plugins: Sequence[object]) -> ut.Trainer:
    """A trainer doing exactly the raw loop's work: no metrics, no evaluation."""
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=_optimizer)
    return ut.Trainer(
        task, plugins=plugins, max_epochs=epochs, eval_every_epochs=None, device="cpu"
    )


def unitrain_case(name: str, batches: Sequence[Batch], seed: int, plugin_count: int) -> Case:
    def run(epochs: int, tick: Tick | None = None) -> nn.Module:
        model = tiny_mlp(seed)
        plugins, _ = noop_plugins(plugin_count)
        if tick is not None:
            plugins.insert(0, _Tick(tick))
        unitrain_trainer(model, epochs, plugins).fit(batches)
        return model

    return Case(name, run, run)


def listener_calls_per_step(plugin_count: int) -> int:
    """Implementations of the per-step events called per optimizer step."""
    plugins, _ = noop_plugins(plugin_count)
    trainer = unitrain_trainer(tiny_mlp(0), 1, plugins)
    return sum(len(trainer.plugins.implementations(hook)) for hook in PER_STEP_HOOKS)


def ignite_case(batches: Sequence[Batch], seed: int) -> Case | None:
    try:
        with quiet():
            from ignite.engine import Engine, Events
    except ImportError:
        return None

    def run(epochs: int, tick: Tick | None = None) -> nn.Module:
        model = tiny_mlp(seed)
        optimizer = _optimizer(model.parameters())
        engine = Engine(ignite_step(model, optimizer, nn.CrossEntropyLoss(), CPU))
        if tick is not None:
            engine.add_event_handler(Events.EPOCH_STARTED, lambda _: tick())
        with quiet():
            engine.run(batches, max_epochs=epochs)
        return model

    return Case("ignite Engine", run, run)


class _Batches:
    """Lightning takes a list for a collection of loaders; this is one loader."""

    def __init__(self, batches: Sequence[Batch]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        return iter(self.batches)


def lightning_case(batches: Sequence[Batch], seed: int) -> Case | None:
    try:
        with quiet():
            import lightning.pytorch as pl
    except ImportError:
        return None

    class Module(pl.LightningModule):
        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model
            self.loss_fn = nn.CrossEntropyLoss()

        def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
            loss: torch.Tensor = self.loss_fn(self.model(batch[0]), batch[1])
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return _optimizer(self.model.parameters())

    class TickCallback(pl.Callback):
        def __init__(self, tick: Tick) -> None:
            self.tick = tick

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.tick()

    def run(epochs: int, tick: Tick | None = None) -> nn.Module:
        model = tiny_mlp(seed)
        callbacks: list[pl.Callback] = [] if tick is None else [TickCallback(tick)]
        with quiet():
            trainer = pl.Trainer(
                max_epochs=epochs,
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                callbacks=callbacks,
            )
            trainer.fit(Module(model), train_dataloaders=_Batches(batches))
        return model

    return Case("lightning Trainer", run, run)


NAMES = {
    "unitrain bare": "overhead_ratio",
    "unitrain +10 plugins": "plugins10_ratio",
    "unitrain +30 plugins": "plugins30_ratio",
    "ignite Engine": "ignite_ratio",
    "lightning Trainer": "lightning_ratio",
}
"""Case name → the ``name=value`` line of its ratio to the raw loop."""


def fits_report(cases: list[Case], args: Any, calls: int) -> dict[str, object]:
    """The fit-level marginal-epoch method: ``t(E2) − t(E1)`` per case, interleaved."""
    raw = cases[0]
    result = measure(
        cases,
        raw.run,
        epochs=(args.epochs[0], args.epochs[1]),
        steps_per_epoch=args.steps,
        repeats=args.repeats,
        clock=args.clock,
        progress=print if args.verbose else None,
    )
    rows = []
    for case in cases:
        low, high = result.spread(case.name, raw.name)
        median = result.median_us(case.name)
        extra = median - result.median_us(raw.name)
        ratio = result.ratio(case.name, raw.name)
        best = result.best_ratio(case.name, raw.name)
        rows.append([case.name, median, extra, ratio, f"{low:.3f}-{high:.3f}", best])
    print_table(
        f"fits: marginal time per step, epochs {args.epochs[0]} vs {args.epochs[1]}, "
        f"{args.repeats} repeats (ratio = median of per-repeat ratios)",
        ["case", "us/step", "+us vs raw", "ratio", "ratio IQR", "min ratio"],
        rows,
    )
    print(f"{result.checked} runs bit-identical")
    # ratio difference × the raw step: per-case medians come from different moments
    extra_30 = (
        result.ratio("unitrain +30 plugins", raw.name) - result.ratio("unitrain bare", raw.name)
    ) * result.median_us(raw.name)
    values: dict[str, object] = {
        line: result.ratio(name, raw.name) if name in result.per_step else math.nan
        for name, line in NAMES.items()
    }
    values["overhead_ratio_min"] = result.best_ratio("unitrain bare", raw.name)
    values["per_listener_us"] = extra_30 / calls
    return values


def paired_report(
    cases: list[Case], batches: Sequence[Batch], args: Any, calls: int
) -> dict[str, object]:
    """Paired epochs (``_paired``): each case epoch against the raw epoch just before it."""
    raw = cases[0]
    result = measure_paired(
        cases,
        raw_epochs(batches, args.seed + 1),
        raw.run,
        epochs=args.paired_epochs,
        repeats=args.repeats,
        clock=args.clock,
    )
    rows = []
    for case in cases:
        low, high = result.spread(case.name)
        own = result.median_us(case.name, args.steps)
        paired_raw = result.median_us(case.name, args.steps, raw=True)
        rows.append([case.name, own, paired_raw, result.ratio(case.name), f"{low:.3f}-{high:.3f}"])
    print_table(
        f"paired epochs: {args.paired_epochs} epochs per fit, {args.repeats} repeats, "
        f"{len(result.ratios[raw.name])} pairs per case (ratio = median of paired ratios)",
        ["case", "us/step", "raw us/step", "ratio", "ratio IQR"],
        rows,
    )
    print(f"{result.checked} models bit-identical; 'raw loop' paired with itself: noise floor")
    raw_us = statistics.median(s for seconds in result.raw_seconds.values() for s in seconds)
    ratio_gap = result.ratio("unitrain +30 plugins") - result.ratio("unitrain bare")
    extra_30 = ratio_gap * raw_us / args.steps * 1e6
    values: dict[str, object] = {
        f"paired_{line}": result.ratio(name) if name in result.ratios else math.nan
        for name, line in NAMES.items()
    }
    values["paired_per_listener_us"] = extra_30 / calls
    values["paired_noise_floor"] = result.ratio(raw.name)
    return values


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--method", choices=["fits", "paired", "both"], default="both")
    parser.add_argument("--paired-epochs", type=int, default=8, help="epochs per paired fit")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps, args.epochs, args.paired_epochs = 1, 2, (1, 2), 3
    single_thread()
    batches = make_batches(args.steps, args.batch, 32, 10, args.seed)
    seed = args.seed + 1
    cases = [
        raw_case(batches, seed),
        unitrain_case("unitrain bare", batches, seed, 0),
        unitrain_case("unitrain +10 plugins", batches, seed, 10),
        unitrain_case("unitrain +30 plugins", batches, seed, 30),
    ]
    if not args.no_peers:
        for peer, make in (("pytorch-ignite", ignite_case), ("lightning", lightning_case)):
            case = make(batches, seed)
            if case is None:
                print(f"{peer} is not installed: skipped (pip install -e '.[bench]')")
            else:
                cases.append(case)
    _, styles = noop_plugins(30)
    calls = listener_calls_per_step(30) - listener_calls_per_step(0)
    print(
        f"tiny MLP 32-64-10, batch {args.batch}, {args.steps} steps/epoch, torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread, {args.clock} clock; plugin "
        f"styles: {', '.join(styles)}; {calls} listener calls per step with 30 plugins"
    )
    values: dict[str, object] = {}
    if args.method in ("fits", "both"):
        values.update(fits_report(cases, args, calls))
    if args.method in ("paired", "both"):
        values.update(paired_report(cases, batches, args, calls))
    values["bit_identical"] = True  # a mismatch raises WeightMismatch before this line
    emit(values)
    return values


if __name__ == "__main__":
    main(sys.argv[1:])
