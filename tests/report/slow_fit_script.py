"""Trains a tiny model slowly (a pause per step) in a run folder, for the --watch test:
``python slow_fit_script.py ROOT STEPS PAUSE``. After step 2 it waits for the file
``ROOT/go`` (the test makes it once its watcher is up), so the run is still live then."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

import unitrain as ut
from unitrain.plugins.run_store import RunStore
from unitrain.testing import tiny_batches, tiny_task


class Pause:
    """Sleeps after every step, so a watcher sees the run live for a while."""

    name = "pause"

    def __init__(self, seconds: float, go: Path) -> None:
        self.seconds, self.go = seconds, go

    def on_train_step_end(self, state: ut.State) -> None:
        time.sleep(self.seconds)
        while state.global_step == 2 and not self.go.exists():
            time.sleep(0.05)


def main() -> None:
    root, steps, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    torch.manual_seed(0)
    store = RunStore(root, "slow", log_every_n_steps=1, heartbeat_every=0.5)
    plugins = [store, Pause(pause, root / "go")]
    trainer = ut.Trainer(tiny_task(), max_steps=steps, device="cpu", plugins=plugins)
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})


if __name__ == "__main__":
    main()
