"""The public API: a sorted, complete ``__all__`` of importable names, and a version."""

from __future__ import annotations

import importlib.metadata
import re
import types

import unitrain


def test_all_is_sorted_and_unique() -> None:
    assert unitrain.__all__ == sorted(unitrain.__all__)
    assert len(set(unitrain.__all__)) == len(unitrain.__all__)


def test_every_exported_name_is_importable() -> None:
    for name in unitrain.__all__:
        assert getattr(unitrain, name, None) is not None, f"unitrain.{name} is missing"
    namespace: dict[str, object] = {}
    exec("from unitrain import *", namespace)
    assert set(unitrain.__all__) <= set(namespace)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(unitrain).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(unitrain.__all__), (
        f"public but not exported: {public - set(unitrain.__all__)}"
    )


def test_the_core_names_are_exported() -> None:
    core = {
        "Trainer",
        "Task",
        "State",
        "StepResult",
        "Hooks",
        "PluginManager",
        "hookimpl",
        "not_a_hook",
        "IDatum",
        "IMiniBatch",
        "IDataset",
        "ILoss",
        "IMiniBatchMetric",
        "IDatasetMetric",
        "AverageMetric",
        "UnitrainError",
    }
    assert core <= set(unitrain.__all__)


def test_every_exported_error_is_in_the_tree() -> None:
    for name in unitrain.__all__:
        value = getattr(unitrain, name)
        if isinstance(value, type) and issubclass(value, Warning):
            assert issubclass(value, unitrain.UnitrainWarning), name
        elif isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, unitrain.UnitrainError), name


def test_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", unitrain.__version__)
    assert unitrain.__version__ == importlib.metadata.version("unitrain")
