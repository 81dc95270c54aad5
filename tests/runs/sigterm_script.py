"""Trains until SIGTERM arrives (run by test_signals.py in a subprocess).

Usage: ``python -m tests.runs.sigterm_script ROOT``. A user SIGTERM handler is installed
before the fit (it must still run), and each step announces itself on stdout.
"""

from __future__ import annotations

import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType

from tests.runs.trainkit import make_data, make_trainer
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore


class Announce:
    name = "announce"

    def on_train_step_end(self, state: object) -> None:
        print(f"step {state.global_step}", flush=True)  # type: ignore[attr-defined]
        time.sleep(0.05)  # the signal lands inside a step


def main(root: Path) -> None:
    warnings.simplefilter("ignore")

    def user_handler(signum: int, frame: FrameType | None) -> None:
        (root / "user-handler-ran").write_text(str(signum))

    signal.signal(signal.SIGTERM, user_handler)
    plugins = [
        RunStore(root, log_every_n_steps=1),
        Checkpoint(every_n_epochs=None, save_last=False),
        Announce(),
    ]
    trainer = make_trainer(plugins, max_epochs=50)
    trainer.fit(make_data(), eval_data=make_data())
    (root / "fit-returned").write_text("the fit should have been stopped")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
