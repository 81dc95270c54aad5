"""How long a checkpoint stalls the training step: synchronous vs ``async_save=True``.

An MLP of about ``--params`` float32 parameters (default 33.6 M: 134 MB of weights; plain
SGD, so the checkpoint is the weights plus a few kB) is trained for ``--steps`` steps with a
checkpoint every ``--every`` steps, three times over the same batches: without checkpoints,
with synchronous saves and with ``Checkpoint(async_save=True)``. For each save the time the
**training thread** spends inside ``Checkpoint.save`` (the step's stall) is measured: for a
synchronous save that is the whole write (serialise, sha256, fsync, rename); for an
asynchronous one the CPU snapshot plus, if the previous write is still running, the wait for
it. The final wait at the fit's end and the wall time of each fit are printed too (the
background write competes with training for the CPU, which the fit's wall time shows).
All three runs end with bit-identical weights (checked), and the async run's last checkpoint
holds exactly the final weights (checked).

Run: ``OMP_NUM_THREADS=1 python benchmarks/checkpoint_stall.py`` (``--smoke``: a tiny model,
for CI; figures printed, never asserted: machines are shared).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import unitrain as ut
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint


class TimedCheckpoint(Checkpoint):
    """Checkpoint that records the training thread's time inside each save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalls: list[float] = []
        self.waits: list[float] = []  # of the stalls: waiting for the previous write
        self.final_wait = 0.0
        self._in_fit_end = False

    def save(self, state: ut.State, trigger: str = "manual") -> Path | None:
        start = time.perf_counter()
        path = super().save(state, trigger)
        self.stalls.append(time.perf_counter() - start)
        return path

    def wait(self) -> None:
        start = time.perf_counter()
        super().wait()
        if not self._in_fit_end:
            self.waits.append(time.perf_counter() - start)

    def on_fit_end(self, state: ut.State) -> None:
        self._in_fit_end = True
        start = time.perf_counter()
        super().on_fit_end(state)
        self.final_wait = time.perf_counter() - start


def _width(params: int) -> int:
    # three layers d×2d, 2d×2d, 2d×d: 8 d² weights (+ biases)
    return max(4, int(math.sqrt(params / 8)))


def _fit(
    d: int, batches: list[tuple[torch.Tensor, torch.Tensor]], plugin: TimedCheckpoint | None
) -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d)
    )
    task = ut.Task(model, loss=nn.MSELoss(), optimizer=lambda p: torch.optim.SGD(p, lr=1e-4))
    trainer = ut.Trainer(
        task, plugins=[] if plugin is None else [plugin], max_epochs=1, device="cpu"
    )
    start = time.perf_counter()
    trainer.fit(batches)
    elapsed = time.perf_counter() - start
    return elapsed, {k: v.clone() for k, v in model.state_dict().items()}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=int, default=33_554_432)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a tiny model, a few steps")
    args = parser.parse_args(argv)
    if args.smoke:
        args.params, args.steps, args.every = 20_000, 6, 2
    torch.set_num_threads(1)
    d = _width(args.params)
    g = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(args.batch, d, generator=g), torch.randn(args.batch, d, generator=g))
        for _ in range(args.steps)
    ]
    results: dict[str, float] = {}
    weights: dict[str, dict[str, torch.Tensor]] = {}
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit(4, [(torch.ones(2, 4), torch.ones(2, 4))], None)  # warm-up: first-call costs
        results["bare_fit_s"], weights["bare"] = _fit(d, batches, None)
        for mode in ("sync", "async"):
            folder = Path(root) / mode
            plugin = TimedCheckpoint(
                folder,
                every_n_steps=args.every,
                every_n_epochs=None,
                save_last=False,
                keep_last=2,
                async_save=mode == "async",
            )
            results[f"{mode}_fit_s"], weights[mode] = _fit(d, batches, plugin)
            # the fit's end waits for the last write: its checkpoint is committed now
            last = list_checkpoints(folder)[-1]
            saved = load_checkpoint(last)["state"]["model"]
            assert all(torch.equal(saved[k], v) for k, v in weights[mode].items()), mode
            stalls = plugin.stalls
            results[f"{mode}_saves"] = len(stalls)
            results[f"{mode}_stall_median_s"] = statistics.median(stalls)
            results[f"{mode}_stall_max_s"] = max(stalls)
            # of which waiting for the previous write (async only; the save's own wait)
            results[f"{mode}_waiting_s"] = sum(plugin.waits) / len(stalls)
            results[f"{mode}_final_wait_s"] = plugin.final_wait
            results["checkpoint_mb"] = (last / "state.pt").stat().st_size / 1e6
    identical = all(
        torch.equal(weights["bare"][k], weights[m][k])
        for m in ("sync", "async")
        for k in weights["bare"]
    )
    results["params_m"] = sum(v.numel() for v in weights["bare"].values()) / 1e6
    results["stall_ratio"] = results["async_stall_median_s"] / results["sync_stall_median_s"]
    print(
        f"MLP width {d}: {results['params_m']:.1f} M params, checkpoint "
        f"{results['checkpoint_mb']:.1f} MB, {args.steps} steps, a save every {args.every}"
    )
    print(
        f"{'':8} {'stall median':>14} {'stall max':>12} {'of it waiting':>14} "
        f"{'end wait':>10} {'fit wall':>10}"
    )
    for mode in ("sync", "async"):
        print(
            f"{mode:8} {results[f'{mode}_stall_median_s'] * 1e3:11.1f} ms "
            f"{results[f'{mode}_stall_max_s'] * 1e3:9.1f} ms "
            f"{results[f'{mode}_waiting_s'] * 1e3:11.1f} ms "
            f"{results[f'{mode}_final_wait_s']:8.2f} s {results[f'{mode}_fit_s']:8.2f} s"
        )
    print(f"{'no ckpt':8} {'':>14} {'':>12} {'':>14} {'':>10} {results['bare_fit_s']:8.2f} s")
    for name in (
        "params_m",
        "checkpoint_mb",
        "sync_stall_median_s",
        "async_stall_median_s",
        "async_waiting_s",
        "stall_ratio",
        "bare_fit_s",
        "sync_fit_s",
        "async_fit_s",
    ):
        print(f"{name}={results[name]:.6g}")
    print(f"bit_identical={'true' if identical else 'false'}")
    if not identical:  # a run that trained differently would make its timing meaningless
        raise SystemExit("the checkpointed runs' weights differ from the run without checkpoints")
    return results


if __name__ == "__main__":
    main()
