"""unitrain's pytest plugin is registered through ``pytest11`` and gives its fixtures.

The plugin author's view end to end (a separate package's test suite using these
fixtures) is tested in ``tests/cli/test_plugin_package.py``.
"""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

import unitrain as ut
from unitrain.hooks.entrypoints import Selection, load_plugins


def test_registered_as_a_pytest11_entry_point(request: pytest.FixtureRequest):
    points = importlib.metadata.entry_points(group="pytest11")
    assert "unitrain.testing.plugin" in {p.value for p in points}
    plugin = request.config.pluginmanager.get_plugin("unitrain")
    assert plugin is sys.modules["unitrain.testing.plugin"]


def test_tiny_fixtures_and_event_recorder(tiny_task, tiny_data, event_recorder):
    trainer = ut.Trainer(tiny_task, max_epochs=1, device="cpu", plugins=[event_recorder])
    trainer.fit(tiny_data)
    assert event_recorder.count("train_step_end") == len(tiny_data) == 4
    assert event_recorder.names[0] == "fit_start" and event_recorder.names[-1] == "fit_end"


def test_fake_distribution_installs_for_one_test(fake_distribution):
    site = fake_distribution(
        "my-plugin",
        "0.2",
        entry_points={"unitrain": {"mine": "my_plugin_mod:Mine"}},
        modules={"my_plugin_mod.py": "class Mine:\n    def on_fit_start(self, state): ...\n"},
    )
    assert str(site) in sys.path
    (item,) = load_plugins(Selection.parse(config=["mine"]))
    assert item.entry.origin == "my-plugin 0.2"
    assert type(item.plugin).__name__ == "Mine"


def test_fake_distribution_left_nothing_behind():
    assert "my_plugin_mod" not in sys.modules
    assert not any(p.endswith("/site") and "fake_distribution" in p for p in sys.path)
    with pytest.raises(ut.PluginError, match="'mine' is enabled but no installed"):
        load_plugins(Selection.parse(config=["mine"]))
