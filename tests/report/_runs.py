"""Real tiny runs for the report tests: a trainer with the run store, an lr log and the
message bus, so the run folder holds what ``unitrain fit`` would write."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import unitrain as ut
import unitrain.bus as ub
from unitrain.plugins.early_stopping import EarlyStopping
from unitrain.plugins.run_store import RunStore
from unitrain.report import LearningRateLog


def spirals(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two interleaved noisy classes in 2-d, in batches of 16."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    radius = torch.rand(n, generator=generator) * 3 + 0.2
    angle = radius * 2.5 + labels * torch.pi
    points = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
    points = points + 0.1 * torch.randn(n, 2, generator=generator)
    return [(points[i : i + 16], labels[i : i + 16]) for i in range(0, n, 16)]


def train_run(root: Path, lr: float, *, epochs: int = 3, experiment: str = "tiny") -> Path:
    """Train a 3-layer MLP with SGD at ``lr``; returns its run folder (bus records added)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)
    )
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9),
    )
    store = RunStore(root, experiment, log_every_n_steps=2, config={"lr": lr, "epochs": epochs})
    plugins = [store, LearningRateLog(every_n_steps=2), EarlyStopping("loss", patience=5)]
    trainer = ut.Trainer(task, max_epochs=epochs, device="cpu", plugins=plugins)
    bus_file = root / f"bus-{lr}.jsonl"
    ub.attach(trainer, ub.NormSubscriber("weight_gradients"), ub.BusLog(every=4, path=bus_file))
    trainer.fit(spirals(128, seed=0), eval_data={"val": spirals(64, seed=1)})
    assert store.run is not None
    with store.run.metrics_jsonl.open("a", encoding="utf-8") as metrics:
        metrics.write(bus_file.read_text(encoding="utf-8"))  # as the bus example does
    return store.run.path
