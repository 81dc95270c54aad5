"""Entry-point plugins: enabled-only loading, isolation, strict and lenient failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import unitrain as ut
from unitrain.errors import PluginError, PluginLoadWarning
from unitrain.hooks.entrypoints import Selection, discover, load_plugins, register_plugins
from unitrain.testing import RecordingPlugin, tiny_batches, tiny_task

GOOD = """
class Counter:
    def __init__(self, start=0):
        self.epochs = start

    def on_epoch_end(self, state):
        self.epochs += 1
"""

MODULE_PLUGIN = """
calls = []

def on_fit_start(state):
    calls.append(state.max_epochs)
"""


@pytest.fixture
def installed(fake_distribution):
    """Three plugins of two distributions: a good class, one never to import, a module."""
    fake_distribution(
        "ut-good",
        "1.2.0",
        entry_points={"unitrain": {"counter": "ut_good_plugin:Counter"}},
        modules={"ut_good_plugin.py": GOOD},
    )
    fake_distribution(
        "ut-other",
        "0.3",
        entry_points={
            "unitrain": {"off": "ut_off_plugin:Plugin", "modplug": "ut_mod_plugin"},
        },
        modules={
            "ut_off_plugin.py": "raise RuntimeError('imported although disabled')\n",
            "ut_mod_plugin.py": MODULE_PLUGIN,
        },
    )


def test_discover_reads_metadata_without_importing(installed):
    found = discover()
    assert {"counter", "off", "modplug"} <= set(found)
    (entry,) = found["counter"]
    assert (entry.distribution, entry.version, entry.value) == (
        "ut-good",
        "1.2.0",
        "ut_good_plugin:Counter",
    )
    assert "ut_good_plugin" not in sys.modules and "ut_off_plugin" not in sys.modules


def test_only_enabled_plugins_are_imported(installed):
    loaded = load_plugins(Selection.parse(config=["counter"]))
    assert [item.entry.name for item in loaded] == ["counter"]
    assert type(loaded[0].plugin).__name__ == "Counter"
    assert "ut_good_plugin" in sys.modules
    assert "ut_off_plugin" not in sys.modules  # its import would raise
    assert "ut_mod_plugin" not in sys.modules


def test_all_switch_with_exclusion_loads_the_rest(installed):
    loaded = load_plugins(Selection.parse(cli=["all", "no:off"]))
    names = [item.entry.name for item in loaded]
    assert "counter" in names and "modplug" in names and "off" not in names
    assert "ut_off_plugin" not in sys.modules


@pytest.mark.parametrize(
    ("config", "env", "cli", "enabled"),
    [
        (["a"], "", [], {"a"}),
        (["a"], "b, c", [], {"a", "b", "c"}),
        (["a"], "no:a", [], set()),
        (["a"], "no:a", ["a"], {"a"}),
        ([], "all", ["no:b"], {"a", "c"}),
        (["all"], "", ["no:all"], set()),
    ],
)
def test_selection_later_sources_win(config, env, cli, enabled):
    selection = Selection.parse(config=config, cli=cli, env={"UNITRAIN_PLUGINS": env})
    assert {n for n in "abc" if selection.is_enabled(n)} == enabled


def test_env_variable_enables(installed, monkeypatch):
    monkeypatch.setenv("UNITRAIN_PLUGINS", "counter")
    assert [i.entry.name for i in load_plugins(Selection.parse())] == ["counter"]


def test_options_reach_the_class_and_module_rejects_options(installed):
    (item,) = load_plugins(Selection.parse(config=["counter"]), options={"counter": {"start": 5}})
    assert item.plugin.epochs == 5
    with pytest.raises(PluginError, match=r"options \['x'\] were given.*module"):
        load_plugins(Selection.parse(config=["modplug"]), options={"modplug": {"x": 1}})


def test_broken_plugins_are_all_reported_with_distribution(installed, fake_distribution):
    fake_distribution(
        "ut-broken",
        "9.9",
        entry_points={"unitrain": {"broken": "ut_broken_plugin:Plugin"}},
        modules={"ut_broken_plugin.py": "import not_a_module_anywhere\n"},
    )
    with pytest.raises(PluginError) as caught:
        load_plugins(Selection.parse(config=["broken", "off", "counter", "countr"]))
    message = str(caught.value)
    assert "3 plugin(s) could not be loaded" in message
    assert "entry point 'broken' = 'ut_broken_plugin:Plugin' of ut-broken 9.9" in message
    assert "ModuleNotFoundError" in message
    assert "entry point 'off'" in message and "ut-other 0.3" in message
    assert "'countr' is enabled but no installed distribution" in message
    assert "did you mean 'counter'?" in message
    assert "-p no:NAME" in message


def test_lenient_mode_warns_and_loads_the_others(installed):
    with pytest.warns(PluginLoadWarning, match=r"skipped: entry point 'off'.*ut-other 0\.3"):
        loaded = load_plugins(Selection.parse(config=["off", "counter"]), strict=False)
    assert [item.entry.name for item in loaded] == ["counter"]


def test_registration_failure_names_the_distribution(fake_distribution):
    fake_distribution(
        "ut-typo",
        "2.0",
        entry_points={"unitrain": {"typo": "ut_typo_plugin:Typo"}},
        modules={"ut_typo_plugin.py": "class Typo:\n    def on_epoch_ends(self, state): ...\n"},
    )
    loaded = load_plugins(Selection.parse(config=["typo"]))
    manager = ut.PluginManager()
    with pytest.raises(PluginError, match=r"entry point 'typo'.*ut-typo 2\.0.*on_epoch_end"):
        register_plugins(manager, loaded)
    with pytest.warns(PluginLoadWarning):
        assert register_plugins(manager, loaded, strict=False) == []
    assert "typo" not in manager


def test_loaded_plugins_take_part_in_a_fit(installed):
    loaded = load_plugins(Selection.parse(config=["counter", "modplug"]))
    recorder = RecordingPlugin(only=["fit_start", "epoch_end", "fit_end"])
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[recorder])
    assert register_plugins(trainer.plugins, loaded) == ["counter", "modplug"]
    trainer.fit(tiny_batches())
    assert trainer.plugins.get("counter").epochs == 2
    assert trainer.plugins.record("counter").distribution == "ut-good 1.2.0"
    assert sys.modules["ut_mod_plugin"].calls == [2]
    recorder.assert_sequence(["fit_start", "epoch_end", "epoch_end", "fit_end"])


def test_same_name_from_two_distributions_is_an_error(installed, fake_distribution):
    fake_distribution(
        "ut-clash",
        "1.0",
        entry_points={"unitrain": {"counter": "ut_clash:Counter"}},
        modules={"ut_clash.py": GOOD},
    )
    with pytest.raises(PluginError, match=r"provided more than once.*ut-good.*ut-clash"):
        load_plugins(Selection.parse(config=["counter"]))


def test_disabled_plugin_is_not_imported_by_the_cli(installed, tmp_path: Path):
    """End to end: `unitrain plugins` lists all three, importing none."""
    from unitrain.cli import main

    code = main(["plugins", "-p", "counter", "--json"])
    assert code == 0
    assert "ut_off_plugin" not in sys.modules and "ut_good_plugin" not in sys.modules
