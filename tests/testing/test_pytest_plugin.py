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


def test_a_session_that_uses_no_fixture_of_ours_loads_no_torch(tmp_path):
    """The plugin is in every pytest session where unitrain is installed: it must cost
    nothing (torch takes seconds to import) until one of its fixtures is asked for."""
    import os
    import subprocess
    from pathlib import Path

    (tmp_path / "test_a_plain.py").write_text(
        "import sys\n\n"
        "def test_plain():\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('unitrain'))\n"
        "    assert 'torch' not in sys.modules, loaded\n"
        "    assert 'unitrain.testing.plugin' in loaded\n"
    )
    (tmp_path / "test_b_fixture.py").write_text(
        "import sys\n\n"
        "def test_fixture(tiny_task):\n"
        "    assert 'torch' in sys.modules and type(tiny_task).__name__ == 'Task'\n"
    )
    root = str(Path(ut.__file__).parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "2 passed" in finished.stdout
