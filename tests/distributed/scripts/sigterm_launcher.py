"""A plain script that trains on ``devices="cpu:2"`` until it is sent SIGTERM.

Run as ``python sigterm_launcher.py OUT_DIR``: once training runs, rank 0 leaves
``OUT_DIR/ready``; the test then sends SIGTERM to this (the launching) process, which must
exit 143 after every rank took part in a checkpoint in ``OUT_DIR/checkpoints``.
"""

import os
import sys
from functools import partial

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.distributed import DDPStrategy
from unitrain.plugins.checkpoint import Checkpoint


class Ready:
    """Leaves OUT_DIR/ready at the third step (rank 0 only)."""

    ranks = "main"

    def __init__(self, folder):
        self.folder = folder

    def on_train_step_end(self, state):
        if state.global_step == 3:
            with open(os.path.join(self.folder, "ready"), "w") as file:
                file.write(str(os.getppid()))


if __name__ == "__main__":
    folder = sys.argv[1]
    torch.manual_seed(0)
    inputs = torch.randn(64, 6)
    data = TensorDataset(inputs, (inputs[:, 0] > 0).long())
    task = ut.Task(
        nn.Linear(6, 2), loss=nn.CrossEntropyLoss(), optimizer=partial(torch.optim.SGD, lr=0.1)
    )
    plugins = [Checkpoint(os.path.join(folder, "checkpoints"), every_n_epochs=1), Ready(folder)]
    trainer = ut.Trainer(
        task,
        plugins=plugins,
        max_epochs=100_000,
        devices="cpu:2",
        strategy=DDPStrategy(start_method="fork"),
    )
    trainer.fit(DataLoader(data, batch_size=4))
    sys.exit(0)  # never reached: SIGTERM ends the fit
