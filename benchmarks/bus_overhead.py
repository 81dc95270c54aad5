"""What the message bus costs: idle (attached, nobody listening) and subscribed.

Two models on CPU (a 4-layer MLP and a small CNN), four variants each, timed as whole
fits of ``--steps`` steps (process CPU time with one torch thread on CPU, so that other
load on a shared machine does not count; wall time on CUDA), repeated ``--repeats`` times
in interleaved (rotating) order; the medians are compared:

- ``bare``: the engine alone;
- ``bus_idle``: ``unitrain.bus.attach(trainer)`` with no subscriber (target ratio <= 1.01);
- ``hand``: hand-written torch hooks computing the activation norms, weight-gradient norms
  and update/weight norm ratios of every layer, read to the host every 50 steps;
- ``bus_subscribed``: the same numbers from ``NormSubscriber("activations")``,
  ``NormSubscriber("weight_gradients")``, ``RatioSubscriber(["weight_updates", "weights"])``
  and ``BusLog(every=50)`` (target ratio against ``hand`` <= 1.10).

On a CUDA machine (``--device cuda``) it also counts host syncs during a subscribed fit with
``torch.cuda.set_sync_debug_mode("warn")`` (BusLog reads are excluded by ``every`` larger
than the fit). The final line is ``bus_overhead_ratio=<x>``: the worse idle ratio.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bus_overhead.py [--steps 40 --repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import unitrain as ut
import unitrain.bus as ub


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


def make(kind: str, variant: str, device: str, log_every: int = 50) -> ut.Trainer:
    torch.manual_seed(0)
    model = mlp() if kind == "mlp" else cnn()
    task = ut.Task(
        model, loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.01)
    )
    trainer = ut.Trainer(task, max_epochs=1, eval_every_epochs=None, device=device)
    if variant == "bus_idle":
        ub.attach(trainer)
    elif variant == "hand":
        trainer.add_plugin(HandHooks(log_every))
    elif variant == "bus_subscribed":
        ub.attach(
            trainer,
            ub.NormSubscriber("activations"),
            ub.NormSubscriber("weight_gradients"),
            ub.RatioSubscriber(["weight_updates", "weights"]),
            ub.BusLog(every=log_every),
        )
    return trainer


def timed_fit(kind: str, variant: str, batches: list[Any], device: str) -> float:
    trainer = make(kind, variant, device)
    # On CPU the process's CPU time (one torch thread) is what the bus adds, and unlike wall
    # time it does not move when other processes share the cores. On CUDA: wall time.
    clock = time.perf_counter if device == "cuda" else time.process_time
    sync: Callable[[], None] = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = clock()
    trainer.fit(batches)
    sync()
    return (clock() - start) / len(batches)


def idle_hook_cost(batches: list[Any]) -> float:
    """Seconds per step that the idle bus's own hooks take (robust to machine noise)."""
    trainer = make("mlp", "bus_idle", "cpu")
    trainer.fit(batches[:2])  # plans: nobody listens
    bus, state = trainer.plugins.get("bus"), trainer.state
    assert isinstance(bus, ub.MessageBus)
    batch, calls, result, optimizer = batches[0], 20000, ut.StepResult(), state.optimizers[0]
    # the three bus hooks that fire every step (the relay adds ~0.1 us per implementation)
    start = time.perf_counter()
    for _ in range(calls):
        bus.on_train_step_start(state, batch)
        bus.on_before_optimizer_step(state, optimizer, 0)
        bus.on_train_step_end(state, batch, result)
    return (time.perf_counter() - start) / calls


def count_syncs(kind: str, batches: list[Any]) -> int:
    trainer = make(kind, "bus_subscribed", "cuda", log_every=10**9)
    trainer.fit(batches[:3])  # warm up outside the count
    trainer = make(kind, "bus_subscribed", "cuda", log_every=10**9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(batches)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = ["bare", "bus_idle", "hand", "bus_subscribed"]
    idle_ratios = []
    bare_steps: dict[str, float] = {}
    for kind in ("mlp", "cnn"):
        batches = data(kind, args.steps, args.device)
        for variant in variants:  # warm-up: allocator, kernels, first-call imports
            timed_fit(kind, variant, batches[:5], args.device)
        times: dict[str, list[float]] = {v: [] for v in variants}
        for repeat in range(args.repeats):
            shift = repeat % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                times[variant].append(timed_fit(kind, variant, batches, args.device))
        median = {v: statistics.median(t) for v, t in times.items()}
        idle = median["bus_idle"] / median["bare"]
        bare_steps[kind] = median["bare"]
        idle_ratios.append(idle)
        print(
            f"{kind}: median step " + ", ".join(f"{v} {median[v] * 1e3:.3f} ms" for v in variants)
        )
        print(f"{kind}: bus_idle/bare = {idle:.3f}")
        print(f"{kind}: bus_subscribed/hand = {median['bus_subscribed'] / median['hand']:.3f}")
        print(f"{kind}: bus_subscribed/bare = {median['bus_subscribed'] / median['bare']:.3f}")
        print(f"{kind}: hand/bare = {median['hand'] / median['bare']:.3f}")
        if args.device == "cuda":
            syncs = count_syncs(kind, batches)
            print(f"{kind}: host syncs in a subscribed fit of {args.steps} steps = {syncs}")
    cost = idle_hook_cost(data("mlp", 2, "cpu"))
    print(f"idle bus hooks: {cost * 1e6:.2f} us per step, measured directly")
    for kind, step in bare_steps.items():
        print(f"{kind}: (bare step + idle bus hooks) / bare step = {(step + cost) / step:.6f}")
    print(f"bus_overhead_ratio={max(idle_ratios):.3f}")


if __name__ == "__main__":
    main()
