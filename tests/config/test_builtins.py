"""The built-in plugins' table equals pyproject's entry points; each name resolves."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

from unitrain.config.builtins import (
    BUILTIN_PLUGINS,
    available_plugins,
    builtin_entries,
    enabled_names,
)
from unitrain.hooks.entrypoints import Selection

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_and_pyproject_declare_the_same_built_ins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["unitrain"] == dict(BUILTIN_PLUGINS)


def test_every_built_in_loads_to_a_class_or_factory_with_a_name():
    for name, entry in builtin_entries().items():
        target = entry.entry_point.load()
        assert inspect.isclass(target) or inspect.isfunction(target), name
        assert entry.distribution == "unitrain"
    assert set(BUILTIN_PLUGINS) == {
        "checkpoint", "gradient_clipping", "lr_scheduler", "metrics_log", "mixed_precision",
        "mlflow", "nan_guard", "progress", "tensorboard",
    }  # fmt: skip


def test_an_installed_plugin_under_a_built_in_name_is_kept_beside_it(fake_distribution):
    fake_distribution("ut-clash", "1.0", entry_points={"unitrain": {"nan_guard": "ut_clash:Guard"}})
    entries = available_plugins()["nan_guard"]
    assert [e.distribution for e in entries] == ["unitrain", "ut-clash"]


def test_all_enables_the_installed_third_party_plugins_not_the_built_ins(fake_distribution):
    fake_distribution("ut-extra", "1.0", entry_points={"unitrain": {"extra": "ut_extra:Plugin"}})
    selection = Selection.parse(cli=["all", "nan_guard"], env={})
    assert enabled_names(selection, available_plugins()) == ["nan_guard", "extra"]
