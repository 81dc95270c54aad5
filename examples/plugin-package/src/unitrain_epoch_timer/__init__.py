"""``epoch-timer``: times every training epoch, logs it, and keeps the times in checkpoints."""

from __future__ import annotations

import time
from typing import Any

from unitrain import State
from unitrain.log import get_logger

__all__ = ["EpochTimer"]
__version__ = "0.1.0"

log = get_logger("ext.epoch_timer")  # under "unitrain", so the CLI shows it


class EpochTimer:
    """Wall-clock seconds of each training epoch (rank 0 only).

    ``log_every``: log every N epochs (0: never). The times are saved with each checkpoint
    under ``checkpoint["plugins"]["epoch-timer"]`` and restored on resume.
    """

    name = "epoch-timer"
    ranks = "main"

    def __init__(self, log_every: int = 1) -> None:
        if log_every < 0:
            raise ValueError(f"EpochTimer(log_every={log_every}): expected 0 or more")
        self.log_every = log_every
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_start(self, state: State) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, state: State) -> None:
        seconds = time.perf_counter() - self._started
        self.seconds.append(seconds)
        if self.log_every and (state.epoch + 1) % self.log_every == 0:
            log.info("epoch %d took %.3f s", state.epoch + 1, seconds)

    def on_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        checkpoint["plugins"][self.name] = {"seconds": list(self.seconds)}

    def on_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint["plugins"].get(self.name)
        if saved is not None:
            self.seconds = [float(s) for s in saved["seconds"]]
