"""The public API: a sorted, complete ``__all__`` of importable names, and a version."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import types

import pytest

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


def test_every_exported_name_is_the_one_its_module_defines() -> None:
    import importlib

    import unitrain.core
    import unitrain.hooks
    import unitrain.tasks

    packages = (unitrain.core, unitrain.hooks, unitrain.tasks, unitrain.errors)
    for name in unitrain.__all__:
        value = getattr(unitrain, name)
        lazy = unitrain._LAZY.get(name)  # type: ignore[attr-defined]
        if lazy is not None:
            assert getattr(importlib.import_module(lazy), name) is value, name
        exported = [getattr(m, name) for m in packages if name in getattr(m, "__all__", ())]
        assert all(e is value for e in exported), name
        assert lazy is not None or exported, f"{name}: defined where?"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Trainr'"):
        unitrain.Trainr  # type: ignore[attr-defined]  # noqa: B018
    assert set(unitrain.__all__) <= set(dir(unitrain))


def _run(code: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def test_importing_unitrain_loads_no_torch() -> None:
    out = _run(
        "import sys, unitrain\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('unitrain')))\n"
        "unitrain.Trainer\n"
        "print('torch' in sys.modules)"
    )
    before, after = out.splitlines()
    assert before == str(["unitrain", "unitrain.errors", "unitrain.log"])
    assert after == "True"  # the first use of a name loads it


@pytest.mark.parametrize("words", [["--help"], ["fit", "--help"], ["plugins", "--help"]])
def test_unitrain_help_answers_without_torch(words: list[str]) -> None:
    out = _run(
        "import sys\n"
        "from unitrain.cli import main\n"
        "try:\n"
        f"    main({words!r})\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "print('TORCH', 'torch' in sys.modules)"
    )
    assert "usage: unitrain" in out
    assert out.splitlines()[-1] == "TORCH False"
