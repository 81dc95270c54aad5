"""Watch every layer of a small network while it trains, through the message bus.

Generated data (two noisy spirals), a 4-layer MLP, and these subscribers:
activation and weight-gradient norms of every layer, the update/weight ratio, the largest
singular value of each weight, train accuracy, and a held-out accuracy measured every 20
steps by the engine's own evaluation pass. ``BusLog`` reads the values to the host every 10
steps (not every step) and writes ``bus.jsonl``; a heatmap per topic is rendered as PNG.

``--out`` is also a run folder for ``unitrain report``: ``MetricsLog`` writes the training
loss and accuracy to ``metrics.jsonl``, the bus records (split ``"bus"``, names
``topic/layer``) are added to it after the fit, and the report (``<out>/report/index.html``)
draws every per-layer topic as a heatmap of layers × steps beside the loss curves.

    python examples/bus_introspection/introspect.py --out runs/bus --epochs 5
    unitrain report runs/bus        # the same report again, from the files
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn

import unitrain as ut
import unitrain.bus as ub
from unitrain.plugins import MetricsLog
from unitrain.report import write_report


def spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    radius = torch.rand(n, generator=generator) * 3 + 0.2
    angle = radius * 2.5 + labels * math.pi
    points = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
    return points + 0.1 * torch.randn(n, 2, generator=generator), labels


def batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="message bus introspection demo")
    parser.add_argument("--out", type=Path, default=Path("runs/bus_introspection"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.jsonl", "bus.jsonl"):  # both logs append: start this run's afresh
        (args.out / stale).unlink(missing_ok=True)
    torch.manual_seed(0)
    train, held_out = spirals(1024, seed=0), spirals(256, seed=1)
    model = nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(inplace=True), nn.Linear(64, 64), nn.ReLU(inplace=True),
        nn.Linear(64, 64), nn.ReLU(inplace=True), nn.Linear(64, 2),
    )  # fmt: skip
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.Adam(params, lr=3e-3),
    )
    metrics_log = MetricsLog(args.out / "metrics.jsonl", every_n_steps=10)
    trainer = ut.Trainer(
        task, max_epochs=args.epochs, eval_every_epochs=None, device="cpu", plugins=[metrics_log]
    )
    log = ub.BusLog(every=10, path=args.out / "bus.jsonl")
    ub.attach(
        trainer,
        ub.NormSubscriber("activations"),
        ub.NormSubscriber("weight_gradients"),
        ub.RatioSubscriber(["weight_updates", "weights"]),
        ub.SpectralNormSubscriber("weights"),
        ub.TrainAccuracySubscriber(),
        ub.TestAccuracySubscriber(batches(*held_out, 128), every=20, split="held_out"),
        log,
    )
    trainer.fit(batches(*train, 64))
    for topic in ("activations_norm2", "weight_gradients_norm2", "weight_updates_weights_ratio"):
        rows = ub.heatmap_png(log, topic, args.out / f"{topic}.png", log_scale=True)
        print(f"{topic}: heatmap of {len(rows)} layers -> {args.out / (topic + '.png')}")
    accuracy = log.series("test_accuracy")[None][1]
    print(f"held-out accuracy: {accuracy[0]:.3f} -> {accuracy[-1]:.3f}")
    print(f"{len(log.rows)} values logged to {args.out / 'bus.jsonl'}")
    # `unitrain report` reads the run's metrics.jsonl: add the bus records to it
    with (args.out / "metrics.jsonl").open("a", encoding="utf-8") as metrics:
        metrics.write((args.out / "bus.jsonl").read_text(encoding="utf-8"))
    print(f"report with per-layer heatmaps: {write_report(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
