"""Helpers for testing unitrain plugins; also a pytest plugin (see :mod:`.plugin`).

``RecordingPlugin`` asserts event sequences, ``tiny_task`` / ``tiny_batches`` make a
fit run in milliseconds, ``make_distribution`` fakes an installed plugin package, and
``run_fit`` runs ``unitrain fit`` in a subprocess. Each name loads on first use, so the
pytest plugin that lives in this package imports nothing heavy into a pytest session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unitrain.lazy import lazy_exports

if TYPE_CHECKING:
    from unitrain.testing.distributions import forget_modules, make_distribution
    from unitrain.testing.process import FitRun, run_cli, run_fit
    from unitrain.testing.recording import Event, RecordingPlugin
    from unitrain.testing.tiny import tiny_batches, tiny_data, tiny_task

_LAZY = {
    "Event": "unitrain.testing.recording",
    "FitRun": "unitrain.testing.process",
    "RecordingPlugin": "unitrain.testing.recording",
    "forget_modules": "unitrain.testing.distributions",
    "make_distribution": "unitrain.testing.distributions",
    "run_cli": "unitrain.testing.process",
    "run_fit": "unitrain.testing.process",
    "tiny_batches": "unitrain.testing.tiny",
    "tiny_data": "unitrain.testing.tiny",
    "tiny_task": "unitrain.testing.tiny",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


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
