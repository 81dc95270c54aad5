"""The PytorchTask backend's API on the one unitrain engine: change the import to
``from unitrain.compat.pytorch_task import PytorchTask, Logger, Snapshot`` and a task written
for the seed runs unchanged, its loops run by :class:`unitrain.Trainer`.

Where each template method runs is listed in :mod:`.trainable`; the Snapshot is a view onto
unitrain's run store (:mod:`unitrain.runs`); :func:`main` is the seed's command line.
"""

from unitrain.compat.pytorch_task.cli import main
from unitrain.compat.pytorch_task.evaluable import PytorchEvaluable
from unitrain.compat.pytorch_task.logger import Logger
from unitrain.compat.pytorch_task.parts import EngineData
from unitrain.compat.pytorch_task.snapshot import DummySnapshot, Snapshot, SnapshotView
from unitrain.compat.pytorch_task.task import BaseTask, PytorchTask
from unitrain.compat.pytorch_task.testable import PytorchTestable
from unitrain.compat.pytorch_task.trainable import PytorchTrainable

__all__ = [
    "BaseTask",
    "DummySnapshot",
    "EngineData",
    "Logger",
    "PytorchEvaluable",
    "PytorchTask",
    "PytorchTestable",
    "PytorchTrainable",
    "Snapshot",
    "SnapshotView",
    "main",
]
