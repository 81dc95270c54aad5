"""Helpers for testing unitrain plugins; also a pytest plugin (see :mod:`.plugin`).

``RecordingPlugin`` asserts event sequences, ``tiny_task`` / ``tiny_batches`` make a
fit run in milliseconds, ``make_distribution`` fakes an installed plugin package, and
``run_fit`` runs ``unitrain fit`` in a subprocess.
"""

from unitrain.testing.distributions import forget_modules, make_distribution
from unitrain.testing.process import FitRun, run_cli, run_fit
from unitrain.testing.recording import Event, RecordingPlugin
from unitrain.testing.tiny import tiny_batches, tiny_data, tiny_task

__all__ = [
    "Event",
    "FitRun",
    "RecordingPlugin",
    "forget_modules",
    "make_distribution",
    "run_cli",
    "run_fit",
    "tiny_batches",
    "tiny_data",
    "tiny_task",
]
