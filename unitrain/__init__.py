"""unitrain: one PyTorch training engine, one pluggy hook spec, four plugin styles.

Every public name loads on first use (PEP 562 ``__getattr__``): ``import unitrain`` costs
the error tree and the library's log handler, not torch, so ``unitrain --help`` and the
pytest plugin (``unitrain.testing.plugin``) stay cheap in an environment where unitrain is
installed. ``from unitrain import *`` and ``unitrain.Trainer`` load what they name.
"""

import typing as _typing
from importlib import import_module as _import_module

from unitrain import log as _log  # noqa: F401  (installs the library's NullHandler)
from unitrain.errors import (
    BatchError,
    BusError,
    CheckpointError,
    ConfigError,
    NonFiniteError,
    PluginError,
    PluginLoadWarning,
    StageError,
    StateError,
    UnitrainError,
    UnitrainWarning,
    WorkerError,
)

if _typing.TYPE_CHECKING:
    from unitrain.core.contract import IDataset, IDatum, IMiniBatch
    from unitrain.core.metrics import (
        AverageMetric,
        IDatasetMetric,
        ILoss,
        IMiniBatchMetric,
        accuracy,
    )
    from unitrain.core.multi_step import ManualOptimization
    from unitrain.core.result import StepResult
    from unitrain.core.stash import Stash, StashKey
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager
    from unitrain.hooks.markers import hookimpl, not_a_hook
    from unitrain.hooks.specs import Hooks
    from unitrain.lr_finder import lr_find
    from unitrain.seeding import seed_everything
    from unitrain.tasks.task import Task
    from unitrain.trainer import Trainer

    __version__: str

# where each lazily loaded name is defined
_LAZY = {
    "AverageMetric": "unitrain.core.metrics",
    "Hooks": "unitrain.hooks.specs",
    "IDataset": "unitrain.core.contract",
    "IDatasetMetric": "unitrain.core.metrics",
    "IDatum": "unitrain.core.contract",
    "ILoss": "unitrain.core.metrics",
    "IMiniBatch": "unitrain.core.contract",
    "IMiniBatchMetric": "unitrain.core.metrics",
    "ManualOptimization": "unitrain.core.multi_step",
    "PluginManager": "unitrain.hooks.manager",
    "Stash": "unitrain.core.stash",
    "StashKey": "unitrain.core.stash",
    "State": "unitrain.core.state",
    "StepResult": "unitrain.core.result",
    "Task": "unitrain.tasks.task",
    "Trainer": "unitrain.trainer",
    "accuracy": "unitrain.core.metrics",
    "hookimpl": "unitrain.hooks.markers",
    "lr_find": "unitrain.lr_finder",
    "not_a_hook": "unitrain.hooks.markers",
    "seed_everything": "unitrain.seeding",
}


def __getattr__(name: str) -> _typing.Any:
    if name == "__version__":
        value: _typing.Any = _version()
    elif name in _LAZY:
        value = getattr(_import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'unitrain' has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("unitrain")
    except metadata.PackageNotFoundError:  # imported from a source tree never installed
        return "0.0.0+unknown"


__all__ = [
    "AverageMetric",
    "BatchError",
    "BusError",
    "CheckpointError",
    "ConfigError",
    "Hooks",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMiniBatch",
    "IMiniBatchMetric",
    "ManualOptimization",
    "NonFiniteError",
    "PluginError",
    "PluginLoadWarning",
    "PluginManager",
    "StageError",
    "Stash",
    "StashKey",
    "State",
    "StateError",
    "StepResult",
    "Task",
    "Trainer",
    "UnitrainError",
    "UnitrainWarning",
    "WorkerError",
    "accuracy",
    "hookimpl",
    "lr_find",
    "not_a_hook",
    "seed_everything",
]
