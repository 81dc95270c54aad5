"""The engine: state, loop, schedules, the engine itself, the typed data contract and its
metrics. (:class:`unitrain.Trainer` is this engine with its extensions: :mod:`unitrain.trainer`.)

Names load on first use (PEP 562), so importing one module of this package (say
``unitrain.core.state``) does not import the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unitrain.lazy import lazy_exports

if TYPE_CHECKING:
    from unitrain.core.contract import IDataset, IDatum, IMiniBatch
    from unitrain.core.engine import Engine
    from unitrain.core.metrics import (
        AverageMetric,
        IDatasetMetric,
        ILoss,
        IMiniBatchMetric,
        accuracy,
    )
    from unitrain.core.result import StepResult
    from unitrain.core.stash import Stash, StashKey
    from unitrain.core.state import State

_LAZY = {
    "AverageMetric": "unitrain.core.metrics",
    "Engine": "unitrain.core.engine",
    "IDataset": "unitrain.core.contract",
    "IDatasetMetric": "unitrain.core.metrics",
    "IDatum": "unitrain.core.contract",
    "ILoss": "unitrain.core.metrics",
    "IMiniBatch": "unitrain.core.contract",
    "IMiniBatchMetric": "unitrain.core.metrics",
    "Stash": "unitrain.core.stash",
    "StashKey": "unitrain.core.stash",
    "State": "unitrain.core.state",
    "StepResult": "unitrain.core.result",
    "accuracy": "unitrain.core.metrics",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "AverageMetric",
    "Engine",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "Stash",
    "StashKey",
    "State",
    "StepResult",
    "accuracy",
]
