"""``PytorchTask``: the seed's composite task, a task plugin of the one engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from unitrain.compat._atomic import write_atomic
from unitrain.compat.pytorch_task.evaluable import PytorchEvaluable
from unitrain.compat.pytorch_task.snapshot import DummySnapshot, Snapshot
from unitrain.compat.pytorch_task.stages import EngineBinding
from unitrain.compat.pytorch_task.testable import PytorchTestable
from unitrain.compat.pytorch_task.trainable import PytorchTrainable
from unitrain.runs.checkpoint import load_weights_only

__all__ = ["SEED_CLASSES", "BaseTask", "PytorchTask"]


class BaseTask:
    """The base of runnable, archived tasks: ``train``, ``test``, ``eval``, ``main``."""

    snapshot: Snapshot

    def __init__(self) -> None:
        self.snapshot = DummySnapshot()

    def train(self) -> None:
        """Train the task."""
        raise NotImplementedError

    def test(self) -> None:
        """Test the task."""
        raise NotImplementedError

    def eval(self, sample: Any) -> Any:
        """Evaluate one input."""
        raise NotImplementedError

    def server(self) -> None:
        """Serve the task (not implemented by the seed either)."""
        raise NotImplementedError("PytorchTask.server is not implemented (the seed left a TODO)")

    def main(self, argv: list[str] | None = None, **options: Any) -> int:
        """The seed's command line for this task: ``train`` / ``test`` / ``eval IN OUT``."""
        from unitrain.compat.pytorch_task.cli import main

        return main(self, argv, **options)


class PytorchTask(PytorchEvaluable, PytorchTestable, PytorchTrainable, EngineBinding, BaseTask):
    """A PyTorch model with the seed's train / test / eval meta-algorithms.

    Override any step (``prepare_train``, ``forward_train``, ``backward``, ``iteration``,
    ``epoch``, ``test_on``, ``single_test``, ``validate``, ``eval`` ...) and call ``super()`` as
    in the seed; the engine runs the loops, so every unitrain plugin's events fire around
    the steps. ``plugins`` (a unitrain addition) lists native or other-style plugins for the
    trainers that ``train()`` / ``test()`` / ``eval_path()`` build.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self._engine_init()
        super().__init__()
        self.model = model
        self.criterion: Any = None
        self.optimizer: Any = None
        self.metric: Any = None
        self.dataset: Any = None
        self.val_dataset: Any = None
        self.epoch_i = None
        self.iter_i = None
        self.device: Any = None
        self.epochs: int | None = None
        self.plugins: list[object] = []

    def forward(self, data: Any) -> Any:
        """Default forward pass through the model."""
        return self.model(data)

    def save_model(self, filename: str) -> None:
        """Save the model's state_dict under the snapshot and register it there (the file is
        written beside its target and renamed into place)."""
        path = Path(self.snapshot.make_path(filename))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda stream: torch.save(self.model.state_dict(), stream))
        self.snapshot.register_model_file(filename)

    def load_model(self, filename: str | None = None) -> None:
        """Load the model from ``filename`` in the snapshot, or from its last model file."""
        if filename:
            path: str | None = self.snapshot.make_path(filename)
            if path is None or not os.path.isfile(path):
                raise RuntimeError(
                    f"There is no model file {filename!r} in the Snapshot folder "
                    f"({self.snapshot.make_path('')})"
                )
        else:
            path = self.snapshot.fetch_last_model_file()
            if not path:
                raise RuntimeError("This Snapshot has no saved model files! Train it first.")
        state = load_weights_only(path, "PytorchTask model file")
        self.model.load_state_dict(state)


SEED_CLASSES: tuple[type, ...] = (
    PytorchTask,
    PytorchEvaluable,
    PytorchTestable,
    PytorchTrainable,
    EngineBinding,
    BaseTask,
)
"""The classes whose methods are the seed's defaults (an override is anything else)."""
