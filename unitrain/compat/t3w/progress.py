"""t3w's ``training_progress``: a view onto the engine's one :class:`~unitrain.State`.

t3w kept its own counters; here every number is read from the state the engine advances:

- ``step``: optimizer steps (``state.global_step``), what t3w's docstring promised (its code
  counted micro-batches, a seed bug; ``micro_step`` is that count);
- ``epoch``: completed epochs. t3w incremented it right after an epoch's last step, before
  the epoch's evaluation and ``on_train_epoch_finished``; the view gives the same number by
  adding one while the current epoch's steps are done but the engine has not yet moved on
  (a flag the t3w task sets in the state's stash), so a checkpoint saved there resumes at
  the next epoch, as in t3w.
"""

from __future__ import annotations

from typing import Any

from unitrain.core.stash import StashKey
from unitrain.core.state import State

__all__ = ["EPOCH_TRAINED", "TrainingProgress"]

EPOCH_TRAINED = StashKey[bool]("t3w.epoch_trained")
"""True from the end of an epoch's last training step until the epoch's ``on_epoch_end``
has run: t3w counted that epoch as completed already."""


class TrainingProgress:
    """``step``, ``epoch``, ``micro_step``, ``steps_per_epoch``, ``total_epochs`` of a state."""

    __slots__ = ("state",)

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def step(self) -> int:
        """Optimizer steps taken so far."""
        return self.state.global_step

    @property
    def micro_step(self) -> int:
        """Forward/backward passes taken so far."""
        return self.state.micro_step

    @property
    def epoch(self) -> int:
        """Completed training epochs (t3w's count, see the module docstring)."""
        return self.state.epoch + int(self.state.stash.get(EPOCH_TRAINED, False))

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches in the current epoch, when known."""
        return self.state.epoch_length

    @property
    def total_epochs(self) -> int | None:
        """The epochs the fit runs to."""
        return self.state.max_epochs

    def as_dict(self) -> dict[str, Any]:
        """What a checkpoint stores (plain ints)."""
        return {"step": self.step, "epoch": self.epoch, "micro_step": self.micro_step}

    def load(self, saved: dict[str, Any]) -> None:
        """Put a saved position into the state (``micro_step`` defaults to ``step``)."""
        state = self.state
        state.global_step = int(saved.get("step", 0))
        state.epoch = int(saved.get("epoch", 0))
        state.micro_step = int(saved.get("micro_step", state.global_step))
        state.batch_idx = 0
        state.stash[EPOCH_TRAINED] = False

    def __repr__(self) -> str:
        return f"TrainingProgress(step={self.step}, epoch={self.epoch})"
