"""A plain user script: ``Trainer(..., devices="cpu:2")`` spawns two ranks by itself.

Run as ``python plain_devices.py OUT_DIR`` (or ``torchrun --nproc-per-node 2
plain_devices.py OUT_DIR none``); rank 0 writes ``OUT_DIR/result.json``, and every rank one
marker file per plugin registered on it.
"""

import json
import os
import sys
from functools import partial

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut


class Marker:
    """Leaves ``<name>-rank<r>`` in the output folder on every rank it runs on."""

    def __init__(self, name, ranks, folder):
        self.name, self.ranks, self.folder = name, ranks, folder

    def on_fit_start(self, state):
        with open(os.path.join(self.folder, f"{self.name}-rank{state.rank}"), "w") as file:
            file.write(str(state.world_size))


def data(size, seed):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(size, 6, generator=generator)
    return TensorDataset(inputs, (inputs[:, 0] > 0).long())


def make_trainer(folder, devices):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=partial(torch.optim.SGD, lr=0.3),
    )
    markers = [
        Marker("main", "main", folder),
        Marker("one", 1, folder),
        Marker("all", "all", folder),
    ]
    return ut.Trainer(task, plugins=markers, max_epochs=2, devices=devices)


if __name__ == "__main__":
    folder = sys.argv[1]
    devices = sys.argv[2] if len(sys.argv) > 2 else "cpu:2"  # "none": torchrun sets the ranks
    per_rank = 16 if devices == "cpu" else 8  # the same global batch either way
    devices = None if devices == "none" else devices
    trainer = make_trainer(folder, devices)
    trainer.fit(DataLoader(data(32, 1), batch_size=per_rank), DataLoader(data(17, 2), batch_size=4))
    weights = torch.cat([p.detach().flatten() for p in trainer.state.model.parameters()])
    if not trainer.state.is_main_process:
        sys.exit(0)
    with open(os.path.join(folder, "result.json"), "w") as file:
        json.dump(
            {
                "weights": weights.tolist(),
                "val": trainer.state.eval_metrics["val"],
                "global_step": trainer.state.global_step,
            },
            file,
        )
